package e2e

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCtlExitCodes checks totpctl's exit statuses against a real daemon:
// 0 ok, 1 refused or failed, 2 usage, 3 daemon unreachable.
func TestCtlExitCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	nowhere := filepath.Join(t.TempDir(), "no-such-dir", "totpd.sock")

	for _, c := range []struct {
		as   *account
		args []string
		code int
	}{
		// 0: done
		{nil, []string{"status"}, 0},
		{&u, []string{"status", "--json"}, 0},
		{nil, []string{"users"}, 0},
		{nil, []string{"user", "show", u.Name, "--json"}, 0},
		{nil, []string{"help"}, 0},
		{nil, []string{"--help"}, 0},
		{nil, []string{"user", "unlock", "--help"}, 0},
		// 1: refused by the daemon
		{nil, []string{"user", "show", "te2e-nobody-" + randHex(3)}, 1},
		{&u, []string{"users"}, 1},
		{&u, []string{"enroll", "confirm", "123456"}, 1},
		{&u, []string{"disable", "--code", "123456"}, 1},
		{nil, []string{"user", "check", u.Name, "123456"}, 1},
		// 2: usage
		{nil, nil, 2},
		{nil, []string{"frobnicate"}, 2},
		{nil, []string{"user"}, 2},
		{nil, []string{"user", "show"}, 2},
		{nil, []string{"user", "show", "a", "b"}, 2},
		{nil, []string{"status", "--no-such-flag"}, 2},
		{nil, []string{"enroll", "confirm"}, 2},
		{nil, []string{"enroll", "--qr", "sixel"}, 2},
		{nil, []string{"--timeout", "soon", "status"}, 2},
		// 3: the daemon cannot be reached
		{nil, []string{"--socket", nowhere, "status"}, 3},
		{&u, []string{"--socket", nowhere, "enroll", "begin"}, 3},
		{nil, []string{"users", "--socket", nowhere, "--json"}, 3},
	} {
		r := runCtl(t, b, d.Socket, c.as, "", c.args...)
		require.Equal(t, c.code, r.Code, "totpctl %q: %s", c.args, r)
		if c.code != 0 {
			require.NotEmpty(t, r.Stderr, "totpctl %q fails without saying why", c.args)
		}
		if c.code == 3 {
			require.Contains(t, r.Stderr, nowhere, "the message names the socket")
		}
	}

	// $TOTPD_SOCKET is a user's socket when --socket is not given (root
	// ignores it: TestRootCtlIgnoresSocketEnv).
	r := runCtl(t, b, nowhere, &u, "", "status")
	require.Equal(t, 3, r.Code, "%s", r)
	require.Contains(t, r.Stderr, nowhere)
	r = runCtl(t, b, nowhere, &u, "", "--socket", d.Socket, "status")
	require.Equal(t, 0, r.Code, "--socket wins over $TOTPD_SOCKET: %s", r)

	// A daemon that went away: exit 3, not "refused".
	require.NoError(t, d.Stop())
	r = d.Ctl("status")
	require.Equal(t, 3, r.Code, "%s", r)
}
