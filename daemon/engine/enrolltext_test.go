package engine

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/qrterm"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// TestLoginEnrollmentText is what the login conversation shows: the daemon
// draws it (the module links no QR encoder).
func TestLoginEnrollmentText(t *testing.T) {
	// A URI whose QR code fits 80 columns: the code, then the key and URI.
	uri := "otpauth://totp/host.example:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=host.example&algorithm=SHA1&digits=6&period=30"
	qr, err := qrterm.Fit(uri)
	require.NoError(t, err)
	require.NotEmpty(t, qr)
	text := loginEnrollmentText(&wire.Enrollment{Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", URI: uri})
	assert.Equal(t, "Scan this QR code with your authenticator app:\n"+qr+
		"or type this key: "+totp.GroupSecret("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")+
		"\nKey URI (for apps that take one):\n"+uri, text)

	// Too much for 80 columns: no QR code, the key and URI still do.
	long := "otpauth://totp/h:a?secret=JBSWY3DPEHPK3PXP&issuer=" + strings.Repeat("x", 1200)
	text = loginEnrollmentText(&wire.Enrollment{Secret: "JBSWY3DPEHPK3PXP", URI: long})
	assert.Equal(t, "Add this key to your authenticator app: "+totp.GroupSecret("JBSWY3DPEHPK3PXP")+
		"\nKey URI (for apps that take one):\n"+long, text)
}

// TestEnrollAtLoginCarriesText: the login path's answers carry the text
// to show; totpctl's do not (it draws its own, with --qr).
func TestEnrollAtLoginCarriesText(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Policy.Require, c.Policy.EnrollAtLogin = "all", true
		c.Policy.GracePeriod = config.Duration(0)
	})
	r := f.e.EnrollBegin("alice", info, true)
	require.Nil(t, r.Error)
	require.Contains(t, r.Enrollment.Text, r.Enrollment.URI)
	require.Contains(t, r.Enrollment.Text, totp.GroupSecret(r.Enrollment.Secret))
	secret, err := totp.DecodeSecret(r.Enrollment.Secret)
	require.NoError(t, err)
	r = f.e.EnrollConfirm("alice", []string{f.code(t, secret, 0)}, info, true)
	require.Nil(t, r.Error)
	require.NotEmpty(t, r.Enrollment.RecoveryCodes)
	for _, c := range r.Enrollment.RecoveryCodes {
		require.Contains(t, r.Enrollment.Text, "\n  "+c)
	}

	r = f.e.EnrollBegin("bob", info, false)
	require.Nil(t, r.Error)
	require.Empty(t, r.Enrollment.Text, "totpctl renders its own")
}
