package enrolltext

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	key    = "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
)

// The layouts with every field are in the golden files of totpctl
// (testdata/cli/enroll-*.txt) and in the PAM module's TestEnrollmentText.

func TestTerminalReadsTheURI(t *testing.T) {
	// The account is the label an app shows, the issuer from issuer= when
	// the label has none; algorithm, digits and period as the URI says.
	uri := "otpauth://totp/alice?secret=" + secret + "&issuer=ACME%20Co&algorithm=sha256&digits=8&period=60"
	assert.Equal(t, "Add this account to your authenticator app:\n"+
		"  Account: ACME Co:alice\n"+
		"  Key:     "+key+"\n"+
		"  Type:    time-based (TOTP), SHA256, 8 digits, every 60 seconds\n"+
		"  URI:     "+uri+"\n", Terminal(secret, uri, ""))

	// Missing parameters are the format's defaults.
	uri = "otpauth://totp/alice?secret=" + secret
	assert.Contains(t, Terminal(secret, uri, ""), "  Type:    time-based (TOTP), SHA1, 6 digits, every 30 seconds\n")
}

func TestTerminalUnreadableURI(t *testing.T) {
	// A URI totp.ParseURI refuses still shows the key and the URI.
	for _, uri := range []string{"otpauth://hotp/alice?secret=" + secret, "otpauth://totp/alice?digits=6", "not a uri"} {
		assert.Equal(t, "Add this account to your authenticator app:\n"+
			"  Key:     "+key+"\n"+
			"  URI:     "+uri+"\n", Terminal(secret, uri, ""), uri)
	}
}

func TestTerminalQR(t *testing.T) {
	out := Terminal(secret, "otpauth://totp/alice?secret="+secret, "QR\n")
	assert.True(t, strings.HasPrefix(out, QRHeading+"\n\nQR\n\nOr add the account by hand:\n  Account: alice\n"), out)
}

func TestRecoveryConversation(t *testing.T) {
	// sshd shows it with the next question, whose reader finds the codes
	// as the lines that start with two spaces.
	text := RecoveryConversation([]string{"rc-one", "rc-two"})
	var codes []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "  ") {
			codes = append(codes, strings.TrimSpace(l))
		}
	}
	assert.Equal(t, []string{"rc-one", "rc-two"}, codes)
	assert.False(t, strings.HasSuffix(text, "\n"))
}

// TestNoQREncoder: the wording links no QR encoder, so a client that gets
// its QR code drawn elsewhere can show an enrollment without one.
func TestNoQREncoder(t *testing.T) {
	// go test puts $GOROOT/bin first in the PATH of the tests it runs.
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	for _, pkg := range strings.Fields(string(out)) {
		assert.NotContains(t, pkg, "qrcode")
		assert.NotContains(t, pkg, "qrterm")
	}
}
