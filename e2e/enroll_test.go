package e2e

import (
	"bufio"
	"errors"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// beginJSON is `totpctl enroll begin --json`.
type beginJSON struct {
	User         string `json:"user"`
	Secret       string `json:"secret"`
	URI          string `json:"uri"`
	ConfirmCodes int    `json:"confirm_codes"`
}

// confirmJSON is `totpctl enroll confirm --json`.
type confirmJSON struct {
	User          string   `json:"user"`
	RecoveryCodes []string `json:"recovery_codes"`
}

var recoveryCodeRE = regexp.MustCompile(`^[a-z2-7]{5}-[a-z2-7]{5}$`)

// requireRecoveryCodes checks a fresh set of n recovery codes.
func requireRecoveryCodes(t *testing.T, codes []string, n int) {
	t.Helper()
	require.Len(t, codes, n)
	seen := map[string]bool{}
	for _, c := range codes {
		require.Regexp(t, recoveryCodeRE, c)
		require.False(t, seen[c], "recovery code %s given twice", c)
		seen[c] = true
	}
}

// requireURI checks an otpauth URI for account with secret.
func requireURI(t *testing.T, uri, account, secret string) {
	t.Helper()
	u, err := url.Parse(uri)
	require.NoError(t, err)
	require.Equal(t, "otpauth", u.Scheme)
	require.Equal(t, "totp", u.Host)
	require.Contains(t, u.Path, account)
	require.Equal(t, secret, u.Query().Get("secret"))
	require.Equal(t, "totpd-e2e", u.Query().Get("issuer"))
}

// secretOfURI reports the secret parameter of an otpauth URI.
func secretOfURI(t *testing.T, uri string) string {
	t.Helper()
	u, err := url.Parse(uri)
	require.NoError(t, err, "URI %q", uri)
	s := u.Query().Get("secret")
	require.NotEmpty(t, s, "URI %q has no secret", uri)
	return s
}

// wrongCode reports six digits that are no code of secret near step.
func wrongCode(t *testing.T, secret string, step int64) string {
	t.Helper()
	near := strings.Join(codesFrom(t, secret, step-3, 7), " ")
	for _, c := range []string{"000000", "111111", "222222"} {
		if !strings.Contains(near, c) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

func TestEnrollSelfOneCode(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{ConfirmCodes: 1})
	u := newUser(t)

	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.Equal(t, u.Name, st.User)
	require.False(t, st.Enrolled)

	var beg beginJSON
	d.CtlJSON(&u, &beg, "enroll", "begin", "--json")
	require.Equal(t, u.Name, beg.User)
	require.Equal(t, 1, beg.ConfirmCodes)
	require.Regexp(t, `^[A-Z2-7]{26,}$`, beg.Secret)
	requireURI(t, beg.URI, u.Name, beg.Secret)

	d.CtlJSON(&u, &st, "status", "--json")
	require.False(t, st.Enrolled, "not enrolled before the confirmation")
	require.True(t, st.PendingEnrollment)
	require.Equal(t, wire.ActionIgnore, d.Query(u.Name).Action, "a pending enrollment asks for nothing at login")

	step := stableStep(t, 5*time.Second)
	code := codeForStep(t, beg.Secret, step)
	r := d.CtlAs(u, "enroll", "confirm", wrongCode(t, beg.Secret, step), "--json")
	require.Equal(t, 1, r.Code, "a wrong confirmation code is refused: %s", r)
	require.Contains(t, r.Stderr, "do not match")

	var conf confirmJSON
	d.CtlJSON(&u, &conf, "enroll", "confirm", code, "--json")
	require.Equal(t, u.Name, conf.User)
	requireRecoveryCodes(t, conf.RecoveryCodes, 10)

	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Enrolled)
	require.False(t, st.PendingEnrollment)
	require.Equal(t, 10, st.RecoveryCodesLeft)
	require.Equal(t, wire.ActionPrompt, d.Query(u.Name).Action)

	// The confirming code's step counts as used; the next one logs in.
	_, err := d.Verify(u.Name, code)
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the confirmation code again at login")
	_, err = d.Verify(u.Name, codeForStep(t, beg.Secret, step+1))
	require.NoError(t, err)

	r = d.CtlAs(u, "enroll", "begin", "--json")
	require.Equal(t, 1, r.Code, "enroll begin while enrolled: %s", r)
	require.Contains(t, r.Stderr, "already enrolled")
}

func TestEnrollSelfTwoCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{ConfirmCodes: 2})
	u := newUser(t)

	var beg beginJSON
	d.CtlJSON(&u, &beg, "enroll", "begin", "--json")
	require.Equal(t, 2, beg.ConfirmCodes)

	step := stableStep(t, 5*time.Second)
	c := codesFrom(t, beg.Secret, step-1, 3) // step-1, step, step+1
	for _, bad := range [][]string{
		{c[1]},       // one code where two are asked
		{c[1], c[0]}, // the right codes in the wrong order
		{c[0], c[2]}, // not consecutive
		{c[1], c[1]}, // the same code twice
	} {
		r := d.CtlAs(u, append([]string{"enroll", "confirm", "--json"}, bad...)...)
		require.Equal(t, 1, r.Code, "confirm with %d codes must be refused: %s", len(bad), r)
		require.NotEmpty(t, r.Stderr)
	}
	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.False(t, st.Enrolled)
	require.True(t, st.PendingEnrollment, "refused confirmations keep the pending enrollment")

	var conf confirmJSON
	d.CtlJSON(&u, &conf, "enroll", "confirm", c[0], c[1], "--json")
	requireRecoveryCodes(t, conf.RecoveryCodes, 10)
	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Enrolled)

	_, err := d.Verify(u.Name, c[1])
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the last confirmation code is used up")
	_, err = d.Verify(u.Name, c[2])
	require.NoError(t, err)
}

func TestEnrollAdminQRPNG(t *testing.T) {
	t.Parallel()
	b := setup(t, "zbarimg")
	d := startDaemon(t, b, config{})
	u := newUser(t)

	png := filepath.Join(t.TempDir(), "qr.png")
	var e adminEnrollment
	d.CtlJSON(nil, &e, "user", "enroll", u.Name, "--json", "--qr-png", png)
	require.Equal(t, u.Name, e.User)
	requireURI(t, e.URI, u.Name, e.Secret)
	requireRecoveryCodes(t, e.RecoveryCodes, 10)

	fi, err := os.Stat(png)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the PNG holds the secret")
	out, err := exec.Command("zbarimg", "--raw", "-q", png).Output()
	require.NoError(t, err, "zbarimg cannot read %s", png)
	require.Equal(t, e.URI, strings.TrimSpace(string(out)), "the QR code holds the URI")

	s := d.Show(u.Name)
	require.True(t, s.Enrolled)
	require.Equal(t, 10, s.RecoveryCodesLeft)
	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Enrolled, "the user sees the admin's enrollment")

	_, err = d.Verify(u.Name, codeAt(t, e.Secret, time.Now()))
	require.NoError(t, err, "the handed-over secret logs in")
}

// TestEnrollWizardTerminal runs the wizard on a pseudo-terminal, as a
// person would: the QR code and key are shown, the code is read without
// echo, the recovery codes follow.
func TestEnrollWizardTerminal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{ConfirmCodes: 1})
	u := newUser(t)

	cmd := ctlCmd(b, d.Socket, &u, "enroll")
	cmd.Env = append(cmd.Env, "TERM=xterm")
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 100})
	require.NoError(t, err)
	defer tty.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	var out testutils.LockedBuffer
	go io.Copy(&out, tty) // ends with EIO when the wizard exits

	testutils.WaitFor(t, 10*time.Second, "the wizard's prompt", func() bool { return strings.Contains(out.String(), "Code: ") })
	screen := out.String()
	require.Contains(t, screen, "▀", "a QR code in UTF-8 half blocks")
	uri := regexp.MustCompile(`URI:\s+(otpauth://\S+)`).FindStringSubmatch(screen)
	require.NotNil(t, uri, "the wizard shows the URI:\n%s", screen)
	secret := secretOfURI(t, uri[1])
	key := regexp.MustCompile(`Key:\s+([A-Z2-7 ]+)`).FindStringSubmatch(screen)
	require.NotNil(t, key)
	require.Equal(t, secret, strings.ReplaceAll(strings.TrimSpace(key[1]), " ", ""), "the grouped key is the secret")

	code := codeAt(t, secret, time.Now())
	_, err = tty.Write([]byte(code + "\r"))
	require.NoError(t, err)
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the wizard did not finish:\n%s", out.String())
	}
	require.NoError(t, err, "wizard output:\n%s", out.String())
	// The wizard has exited, but its last lines may still be on their way
	// through the pty: wait for all ten codes, not just the heading.
	recovery := regexp.MustCompile(`(?m)^\s+[a-z2-7]{5}-[a-z2-7]{5}\s*$`)
	testutils.WaitFor(t, 5*time.Second, "the ten recovery codes on the terminal", func() bool {
		return strings.Contains(out.String(), "Recovery codes") && len(recovery.FindAllString(out.String(), -1)) >= 10
	})
	require.NotContains(t, out.String(), code, "the code must not be echoed")
	require.Len(t, recovery.FindAllString(out.String(), -1), 10)

	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Enrolled)
}

// TestEnrollWizardPipe feeds the wizard two consecutive codes on a pipe
// (confirm_codes = 2), the way a script would.
func TestEnrollWizardPipe(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{ConfirmCodes: 2})
	u := newUser(t)

	cmd := ctlCmd(b, d.Socket, &u, "enroll", "--qr", "none")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	var out, errOut testutils.LockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	testutils.WaitFor(t, 10*time.Second, "the first prompt", func() bool { return strings.Contains(out.String(), "Code 1 of 2: ") })
	var uri string
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == "URI:" {
			uri = f[1]
		}
	}
	secret := secretOfURI(t, uri)
	step := stableStep(t, 5*time.Second)
	c := codesFrom(t, secret, step-1, 2)
	// A line that is no code is asked again without reaching the daemon.
	_, err = io.WriteString(stdin, "12ab56\n"+c[0]+"\n"+c[1]+"\n")
	require.NoError(t, err)
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("the wizard did not finish:\nstdout:\n%s\nstderr:\n%s", out.String(), errOut.String())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("wizard exit %d:\nstdout:\n%s\nstderr:\n%s", ee.ExitCode(), out.String(), errOut.String())
	}
	require.NoError(t, err)
	require.Contains(t, out.String(), "That is not a code")
	require.Contains(t, out.String(), "Code 2 of 2: ")
	require.Contains(t, out.String(), "Recovery codes")

	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Enrolled)
	require.Equal(t, 10, st.RecoveryCodesLeft)
}
