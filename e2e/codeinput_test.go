package e2e

import (
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/e2e/testutils"
)

// codeArgWarning starts the line totpctl prints when a code is given as
// an argument.
const codeArgWarning = "totpctl: warning: a code on the command line can be read by every user of this host (ps, /proc) while it is valid;"

// TestCtlCodesFromStdin: every command that needs a code takes it from
// stdin, where no other user can read it, with no prompt and no warning;
// the code is in no argument of the totpctl process. Given as an argument
// it still works, with a warning that never repeats it.
func TestCtlCodesFromStdin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{MaxFailures: 1000})
	u, v := newUser(t), newUser(t)
	e := d.Enroll(u.Name)
	step := stableStep(t, 8*time.Second)
	now := codeForStep(t, e.Secret, step)

	// ctl runs totpctl with code on stdin and checks that the code is not
	// among its arguments and that nothing but the output was printed.
	ctl := func(as *account, code string, args ...string) ctlResult {
		t.Helper()
		cmd := ctlCmd(b, d.Socket, as, args...)
		require.False(t, slices.ContainsFunc(cmd.Args, func(a string) bool { return strings.Contains(a, code) }), "%v", cmd.Args)
		r := runCtl(t, b, d.Socket, as, code+"\n", args...)
		require.Empty(t, r.Stderr, "totpctl %v: no prompt, no warning: %s", args, r)
		require.NotContains(t, r.Stdout, code)
		return r
	}

	// An admin checks the code the user reads out; nothing is used up.
	r := ctl(nil, now, "user", "check", u.Name, "--json")
	require.Equal(t, 0, r.Code, "%s", r)
	var ck checkJSON
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &ck), "stdout is the JSON alone: %q", r.Stdout)
	require.True(t, ck.Valid)

	// Fresh recovery codes with that code, then a disable with one of them.
	r = ctl(&u, now, "recovery-codes", "--json")
	require.Equal(t, 0, r.Code, "%s", r)
	var rc confirmJSON
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rc), "stdout is the JSON alone: %q", r.Stdout)
	requireRecoveryCodes(t, rc.RecoveryCodes, 10)

	r = runCtl(t, b, d.Socket, &u, "", "disable")
	require.Equal(t, 2, r.Code, "no terminal and nothing on stdin: %s", r)
	require.Contains(t, r.Stderr, "echo CODE | totpctl disable")

	// The old way still works, with the warning, which repeats no code.
	wrong := wrongCode(t, e.Secret, step)
	r = d.CtlAs(u, "disable", "--code", wrong)
	require.Equal(t, 1, r.Code, "%s", r)
	require.True(t, strings.HasPrefix(r.Stderr, codeArgWarning), "%s", r)
	require.Contains(t, r.Stderr, "next time run 'totpctl disable' and type the code, or pipe it: echo CODE | totpctl disable\n")
	require.NotContains(t, r.Stderr, wrong)

	r = ctl(&u, rc.RecoveryCodes[0], "disable")
	require.Equal(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Stdout, "Your TOTP secret is removed")
	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.False(t, st.Enrolled)

	// Enrollment by script: begin, then the code on stdin.
	var beg beginJSON
	d.CtlJSON(&v, &beg, "enroll", "begin", "--json")
	step = stableStep(t, 5*time.Second)
	r = ctl(&v, codeForStep(t, beg.Secret, step), "enroll", "confirm", "--json")
	require.Equal(t, 0, r.Code, "%s", r)
	var conf confirmJSON
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &conf))
	require.Equal(t, v.Name, conf.User)
	requireRecoveryCodes(t, conf.RecoveryCodes, 10)
}

// TestCtlCodePromptOnTerminal: on a terminal, totpctl disable asks for
// the code and what is typed is not echoed.
func TestCtlCodePromptOnTerminal(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	e := d.Enroll(u.Name)

	for _, c := range []struct {
		as     *account
		args   []string
		prompt string
		done   string
	}{
		{nil, []string{"user", "check", u.Name}, "Code to check: ", "valid now"},
		{&u, []string{"disable"}, "Current code or a recovery code: ", "Your TOTP secret is removed"},
	} {
		cmd := ctlCmd(b, d.Socket, c.as, c.args...)
		cmd.Env = append(cmd.Env, "TERM=xterm")
		tty, err := pty.Start(cmd)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var screen testutils.LockedBuffer
		copied := make(chan struct{})
		go func() { io.Copy(&screen, tty); close(copied) }() // ends with EIO when totpctl exits

		testutils.WaitFor(t, 10*time.Second, "the prompt "+c.prompt, func() bool { return strings.Contains(screen.String(), c.prompt) })
		code := codeAt(t, e.Secret, time.Now())
		_, err = tty.Write([]byte(code + "\r"))
		require.NoError(t, err)
		select {
		case err = <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("totpctl %v did not finish:\n%s", c.args, screen.String())
		}
		require.NoError(t, err, "totpctl %v:\n%s", c.args, screen.String())
		testutils.WaitFor(t, 5*time.Second, "the result on the terminal", func() bool { return strings.Contains(screen.String(), c.done) })
		tty.Close()
		<-copied
		require.NotContains(t, screen.String(), code, "the code was echoed")
		require.NotContains(t, screen.String(), "warning", "%s", screen.String())
	}
}
