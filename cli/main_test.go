package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
)

// testNow is the fixed local clock of the golden tests.
var testNow = time.Date(2026, 11, 28, 14, 0, 0, 0, time.UTC)

// fakeDaemon answers calls the way client.Client reports them: a
// refusal is the response and its *wire.Error.
type fakeDaemon struct {
	mu     sync.Mutex
	reqs   []wire.Request
	answer func(req wire.Request) *wire.Response
}

func (f *fakeDaemon) Call(_ context.Context, req wire.Request) (*wire.Response, error) {
	f.mu.Lock()
	f.reqs = append(f.reqs, req)
	f.mu.Unlock()
	resp := f.answer(req)
	if resp == nil {
		return nil, &client.UnavailableError{Socket: "fake", Err: errors.New("no answer")}
	}
	resp.Version = wire.Version
	if resp.Error != nil {
		return resp, resp.Error
	}
	return resp, nil
}

func (f *fakeDaemon) requests() []wire.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.Request(nil), f.reqs...)
}

// fixed answers every call with resp.
func fixed(resp wire.Response) *fakeDaemon {
	return &fakeDaemon{answer: func(wire.Request) *wire.Response { r := resp; return &r }}
}

func refused(code, msg string) *wire.Response {
	return &wire.Response{Error: &wire.Error{Code: code, Message: msg}}
}

type result struct {
	code   int
	stdout string
	stderr string
}

// runFake runs totpctl against cl with input as stdin (not a terminal).
func runFake(t *testing.T, cl caller, input string, args ...string) result {
	t.Helper()
	return runEnv(t, cl, time.UTC, input, args...)
}

func runEnv(t *testing.T, cl caller, loc *time.Location, input string, args ...string) result {
	t.Helper()
	e, stdout, stderr := testEnv(cl, loc, input)
	code := run(args, e)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// testEnv is the environment of runEnv: a user who is not root (uid
// 1000) with input as stdin, not a terminal. A real client dialled by it
// expects the fake daemons of the tests, run by the test's own uid.
func testEnv(cl caller, loc *time.Location, input string) (e *env, stdout, stderr *bytes.Buffer) {
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	in := bufio.NewReader(strings.NewReader(input))
	e = &env{
		stdout: stdout,
		stderr: stderr,
		now:    func() time.Time { return testNow },
		loc:    loc,
		dial: func(socket string, timeout time.Duration) caller {
			if cl == nil {
				c := client.New(socket, timeout)
				c.ServerUID = os.Getuid()
				return c
			}
			return cl
		},
		stdinIsTerminal: func() bool { return false },
		stdin:           in,
		euid:            func() int { return 1000 },
	}
	e.readCode = func(prompt string) (string, error) {
		stdout.WriteString(prompt)
		line, err := readLine(in)
		stdout.WriteString("\n") // as the terminal version does
		return line, err
	}
	e.readSecret = func(prompt string) (string, error) {
		stderr.WriteString(prompt)
		line, err := readLine(in)
		stderr.WriteString("\n")
		return line, err
	}
	return e, stdout, stderr
}

// golden compares got with testdata/cli/name, rewriting it when
// UPDATE_GOLDEN=1.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("..", "testdata", "cli", name)
	if os.Getenv("UPDATE_GOLDEN") == "1" {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing golden file: run UPDATE_GOLDEN=1 go test ./cli/")
	require.Equal(t, string(want), got, "output differs from %s (UPDATE_GOLDEN=1 rewrites it)", path)
}

// serveUnix runs a minimal daemon on a Unix socket (wiretest) that
// answers each request with handle, through the real wire framing.
func serveUnix(t *testing.T, handle func(wire.Request) wire.Response) string {
	t.Helper()
	return wiretest.NewServer(t, handle).Socket
}

func TestExitCodes(t *testing.T) {
	sock := serveUnix(t, func(req wire.Request) wire.Response {
		switch req.Op {
		case wire.OpStatus:
			return wire.Response{Status: &wire.Status{User: "alice", ServerTime: testNow}}
		case wire.OpDisable:
			return wire.Response{Error: &wire.Error{Code: wire.ErrCodeRequired, Message: "the policy requires you to use TOTP"}}
		case wire.OpUserUnlock:
			return wire.Response{Error: &wire.Error{Code: wire.ErrCodePermission, Message: "only root and members of totpd-admin may do this"}}
		case wire.OpUserCheck:
			return wire.Response{Check: &wire.Check{User: req.User, Valid: false, PeriodSec: 30}}
		}
		return wire.Response{Error: &wire.Error{Code: wire.ErrCodeBadRequest, Message: "unknown op"}}
	})
	missing := filepath.Join(t.TempDir(), "no-such.sock")
	cases := []struct {
		name   string
		args   []string
		env    string // TOTPD_SOCKET
		want   int
		stderr string
	}{
		{"ok", []string{"--socket", sock, "status"}, "", exitOK, ""},
		{"ok flags after", []string{"status", "--json", "--socket", sock}, "", exitOK, ""},
		{"ok socket from env", []string{"status"}, sock, exitOK, ""},
		{"flag beats env", []string{"--socket", sock, "status"}, missing, exitOK, ""},
		{"help", []string{"help"}, "", exitOK, ""},
		{"--help", []string{"--help"}, "", exitOK, ""},
		{"command --help", []string{"user", "check", "--help"}, "", exitOK, ""},
		{"refused", []string{"--socket", sock, "disable", "--code", "123456"}, "", exitFailed, "totpctl: the policy requires you to use TOTP\n"},
		{"permission", []string{"--socket", sock, "user", "unlock", "bob"}, "", exitFailed, "totpctl: only root and members of totpd-admin may do this\n"},
		{"check not valid", []string{"--socket", sock, "user", "check", "bob", "123456"}, "", exitFailed, ""},
		{"unreachable", []string{"--socket", missing, "status"}, "", exitUnavailable, "totpctl: totpd is not answering on " + missing},
		{"unreachable env", []string{"users"}, missing, exitUnavailable, "totpctl: totpd is not answering on " + missing},
		{"no command", nil, "", exitUsage, "totpctl: no command given (see 'totpctl help')\n"},
		{"unknown command", []string{"frobnicate"}, "", exitUsage, "totpctl: unknown command \"frobnicate\" (see 'totpctl help')\n"},
		{"unknown user command", []string{"user", "frob", "x"}, "", exitUsage, "unknown user subcommand"},
		{"user alone", []string{"user"}, "", exitUsage, "needs a subcommand"},
		{"unknown flag", []string{"status", "--frob"}, "", exitUsage, "totpctl: unknown option --frob (see 'totpctl status --help')\n"},
		{"missing arg", []string{"user", "show"}, "", exitUsage, "totpctl: user show takes NAME (see 'totpctl user show --help')\n"},
		{"extra arg", []string{"status", "x"}, "", exitUsage, "status takes no arguments"},
		{"bad qr", []string{"enroll", "begin", "--qr", "svg"}, "", exitUsage, "--qr must be"},
		{"bad timeout", []string{"--timeout", "soon", "status"}, "", exitUsage, "--timeout"},
		{"bad grace", []string{"user", "require", "bob", "--grace", "a week"}, "", exitUsage, "--grace"},
		{"negative grace", []string{"user", "require", "bob", "--grace", "-1d"}, "", exitUsage, `--grace "-1d": must not be negative`},
		{"grace unit", []string{"user", "require", "bob", "--grace", "7days"}, "", exitUsage, `--grace "7days": unknown unit "days"`},
		{"disable without code", []string{"disable"}, "", exitUsage, "disable needs a current code or a recovery code: type it when asked on a terminal, or give it on stdin: echo CODE | totpctl disable"},
		{"check without code", []string{"user", "check", "bob"}, "", exitUsage, "user check needs the code to check"},
		{"confirm without code", []string{"enroll", "confirm"}, "", exitUsage, "enroll confirm needs the code the app shows"},
		{"wizard json", []string{"enroll", "--json"}, "", exitUsage, "no --json"},
		{"help unknown", []string{"help", "frob"}, "", exitUsage, "no help for"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(client.SocketEnv, tc.env)
			r := runFake(t, nil, "", tc.args...)
			require.Equal(t, tc.want, r.code, "stderr: %s", r.stderr)
			if tc.stderr != "" {
				require.Contains(t, r.stderr, tc.stderr)
			}
			if tc.want == exitUsage {
				require.Equal(t, 1, strings.Count(r.stderr, "\n"), "a usage error is one line: %q", r.stderr)
			}
			if tc.want == exitOK {
				require.Empty(t, r.stderr)
			}
		})
	}
}

func TestFlagsBeforeAndAfterCommand(t *testing.T) {
	f := fixed(wire.Response{Status: &wire.Status{User: "alice", ServerTime: testNow}})
	for _, args := range [][]string{
		{"--json", "status"},
		{"status", "--json"},
		{"-json", "status"},
		{"status", "--json=true"},
		{"--socket", "/x", "status", "--json"},
	} {
		r := runFake(t, f, "", args...)
		require.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
		require.True(t, strings.HasPrefix(r.stdout, "{"), "%v: want JSON, got %q", args, r.stdout)
	}

	c := fixed(wire.Response{Check: &wire.Check{User: "bob", Valid: true, PeriodSec: 30}})
	for _, args := range [][]string{
		{"user", "check", "--json", "bob", "123456"},
		{"user", "check", "bob", "--json", "123456"},
		{"user", "check", "bob", "123456", "--json"},
		{"--json", "user", "check", "bob", "--", "123456"},
	} {
		r := runFake(t, c, "", args...)
		require.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stdout, `"valid": true`, "%v", args)
	}
	reqs := c.requests()
	require.Len(t, reqs, 4)
	for _, req := range reqs {
		require.Equal(t, wire.Request{Op: wire.OpUserCheck, User: "bob", Code: "123456"}, req)
	}
}

func TestTypedCodesAreNeverPrinted(t *testing.T) {
	const code = "987654"
	const recovery = "zq7k-m2pd"
	deny := &fakeDaemon{answer: func(req wire.Request) *wire.Response {
		r := refused(wire.ErrCodeDenied, "the code is not valid")
		r.Messages = []wire.Message{{Error: true, Text: "4 attempts left before a lockout"}}
		return r
	}}
	for _, args := range [][]string{
		{"disable", "--code", code},
		{"disable", "--code=" + recovery},
		{"recovery-codes", "--code", recovery},
		{"enroll", "confirm", code},
		{"enroll", "confirm", code, recovery},
		{"user", "check", "bob", code},
		{"user", "check", "bob", recovery, code},
		{"user", "check", "bob"},
		{"enroll", code},
		{"status", code},
		{code},
		{recovery},
		{"user", recovery},
		{"help", code},
	} {
		r := runFake(t, deny, "", args...)
		require.NotEqual(t, exitOK, r.code, "%v", args)
		for _, secret := range []string{code, recovery} {
			require.NotContains(t, r.stdout, secret, "%v", args)
			require.NotContains(t, r.stderr, secret, "%v", args)
		}
	}
	// Codes on stdin, the safe way, are never printed either.
	for _, tc := range []struct {
		input string
		args  []string
	}{
		{code + "\n", []string{"disable"}},
		{recovery + "\n", []string{"disable", "--json"}},
		{recovery + "\n", []string{"recovery-codes"}},
		{code + "\n", []string{"enroll", "confirm"}},
		{code + " " + code + "\n", []string{"enroll", "confirm", "--json"}},
		{code + "\n", []string{"user", "check", "bob"}},
		{recovery + "\n", []string{"user", "check", "bob"}},
	} {
		r := runFake(t, deny, tc.input, tc.args...)
		require.Equal(t, exitFailed, r.code, "%v", tc.args)
		for _, secret := range []string{code, recovery} {
			require.NotContains(t, r.stdout, secret, "%v", tc.args)
			require.NotContains(t, r.stderr, secret, "%v", tc.args)
		}
	}
	r := runFake(t, deny, code+"\n", "disable")
	require.Equal(t, "totpctl: the code is not valid\ntotpctl: 4 attempts left before a lockout\n", r.stderr)
	require.Equal(t, exitFailed, r.code)
}

// A code that is not on the command line, where every user can read it
// (/proc/PID/cmdline) while it is valid, comes from stdin: one line, no
// prompt on stdout (it may be --json for a script), no warning.
func TestCodesFromStdin(t *testing.T) {
	ok := &fakeDaemon{answer: func(req wire.Request) *wire.Response {
		switch req.Op {
		case wire.OpRecoveryCodes, wire.OpEnrollConfirm:
			return &wire.Response{Enrollment: &wire.Enrollment{User: "alice", RecoveryCodes: testRecovery}}
		case wire.OpUserCheck:
			return &wire.Response{Check: &wire.Check{User: req.User, Valid: true, PeriodSec: 30}}
		}
		return &wire.Response{}
	}}
	for _, tc := range []struct {
		input string
		args  []string
		want  wire.Request
	}{
		{"123456\n", []string{"disable"}, wire.Request{Op: wire.OpDisable, Code: "123456"}},
		{" zq7k-m2pd \r\n", []string{"disable", "--json"}, wire.Request{Op: wire.OpDisable, Code: "zq7k-m2pd"}},
		{"123456", []string{"recovery-codes", "--json"}, wire.Request{Op: wire.OpRecoveryCodes, Code: "123456"}},
		{"123 456\n", []string{"user", "check", "bob", "--json"}, wire.Request{Op: wire.OpUserCheck, User: "bob", Code: "123456"}},
		{"123456\n", []string{"enroll", "confirm", "--json"}, wire.Request{Op: wire.OpEnrollConfirm, Codes: []string{"123456"}}},
		{"123 456\n", []string{"enroll", "confirm"}, wire.Request{Op: wire.OpEnrollConfirm, Codes: []string{"123456"}}},
		{"123456 654321\n", []string{"enroll", "confirm", "--json"}, wire.Request{Op: wire.OpEnrollConfirm, Codes: []string{"123456", "654321"}}},
		{"12345678  87654321\nignored\n", []string{"enroll", "confirm"}, wire.Request{Op: wire.OpEnrollConfirm, Codes: []string{"12345678", "87654321"}}},
	} {
		before := len(ok.requests())
		r := runFake(t, ok, tc.input, tc.args...)
		require.Equal(t, exitOK, r.code, "%v: %s", tc.args, r.stderr)
		require.Empty(t, r.stderr, "%v: no prompt and no warning", tc.args)
		reqs := ok.requests()
		require.Len(t, reqs, before+1, "%v", tc.args)
		require.Equal(t, tc.want, reqs[before], "%v", tc.args)
		if tc.args[len(tc.args)-1] == "--json" {
			var v any
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &v), "%v: stdout is JSON alone: %q", tc.args, r.stdout)
		}
	}

	// An empty line is no code: nothing is sent.
	before := len(ok.requests())
	r := runFake(t, ok, "\n", "disable")
	require.Equal(t, exitFailed, r.code)
	require.Equal(t, "totpctl: no code given: nothing was done (run 'totpctl disable' again and type the code)\n", r.stderr)
	require.Len(t, ok.requests(), before)
}

// On a terminal the prompt goes to stderr, so that stdout stays the
// command's output (--json) even then.
func TestCodePromptOnTerminal(t *testing.T) {
	f := fixed(wire.Response{Enrollment: &wire.Enrollment{RecoveryCodes: testRecovery}})
	for _, tc := range []struct {
		args   []string
		prompt string
	}{
		{[]string{"recovery-codes", "--json"}, "Current code or a recovery code: "},
		{[]string{"disable"}, "Current code or a recovery code: "},
		{[]string{"user", "check", "bob"}, "Code to check: "},
		{[]string{"enroll", "confirm", "--json"}, "Code (or two consecutive codes, separated by a space): "},
	} {
		e, stdout, stderr := testEnv(f, time.UTC, "123456\n")
		e.stdinIsTerminal = func() bool { return true }
		run(tc.args, e)
		require.True(t, strings.HasPrefix(stderr.String(), tc.prompt+"\n"), "%v: stderr %q", tc.args, stderr.String())
		require.NotContains(t, stdout.String(), tc.prompt, "%v", tc.args)
		require.NotContains(t, stdout.String()+stderr.String(), "123456", "%v", tc.args)
	}
}

// A code given as an argument still works, with one line on stderr that
// says it is visible to other users and how to avoid it, without the code.
func TestCodeArgumentWarns(t *testing.T) {
	ok := fixed(wire.Response{
		Enrollment: &wire.Enrollment{User: "alice", RecoveryCodes: testRecovery},
		Check:      &wire.Check{User: "bob", Valid: true, PeriodSec: 30},
	})
	for _, tc := range []struct {
		args []string
		want wire.Request
		safe string
	}{
		{[]string{"disable", "--code", "123456"}, wire.Request{Op: wire.OpDisable, Code: "123456"}, "totpctl disable"},
		{[]string{"recovery-codes", "--code=123456", "--json"}, wire.Request{Op: wire.OpRecoveryCodes, Code: "123456"}, "totpctl recovery-codes"},
		{[]string{"user", "check", "bob", "123456"}, wire.Request{Op: wire.OpUserCheck, User: "bob", Code: "123456"}, "totpctl user check NAME"},
		{[]string{"enroll", "confirm", "123456", "654321"}, wire.Request{Op: wire.OpEnrollConfirm, Codes: []string{"123456", "654321"}}, "totpctl enroll confirm"},
	} {
		before := len(ok.requests())
		r := runFake(t, ok, "", tc.args...)
		require.Equal(t, exitOK, r.code, "%v: %s", tc.args, r.stderr)
		require.Equal(t, tc.want, ok.requests()[before], "%v", tc.args)
		require.Equal(t, "totpctl: warning: a code on the command line can be read by every user of this host (ps, /proc) while it is valid; "+
			"next time run '"+tc.safe+"' and type the code, or pipe it: echo CODE | "+tc.safe+"\n", r.stderr, "%v", tc.args)
	}
}

// Root takes the socket from --socket or the default, never from
// $TOTPD_SOCKET, which whoever prepared root's environment may have set.
func TestRootIgnoresSocketEnv(t *testing.T) {
	t.Setenv(client.SocketEnv, "/tmp/someone-elses.sock")
	for _, tc := range []struct {
		euid int
		args []string
		want string
	}{
		{0, []string{"status"}, client.DefaultSocket},
		{0, []string{"--socket", "/tmp/given.sock", "status"}, "/tmp/given.sock"},
		{0, []string{"status", "--socket=/tmp/given.sock"}, "/tmp/given.sock"},
		{1000, []string{"status"}, "/tmp/someone-elses.sock"},
		{1000, []string{"--socket", "/tmp/given.sock", "status"}, "/tmp/given.sock"},
	} {
		f := fixed(wire.Response{Status: &wire.Status{User: "root", ServerTime: testNow}})
		e, _, stderr := testEnv(f, time.UTC, "")
		e.euid = func() int { return tc.euid }
		var dialled []string
		e.dial = func(socket string, _ time.Duration) caller {
			dialled = append(dialled, socket)
			return f
		}
		require.Equal(t, exitOK, run(tc.args, e), stderr.String())
		require.Equal(t, []string{tc.want}, dialled, "euid %d, %v", tc.euid, tc.args)
	}
}

func TestRequestsSent(t *testing.T) {
	ok := fixed(wire.Response{})
	cases := []struct {
		args []string
		want wire.Request
		out  string
	}{
		{[]string{"user", "disable", "bob"}, wire.Request{Op: wire.OpUserDisable, User: "bob"}, "bob's secret is removed; the grace period starts again.\n"},
		{[]string{"user", "unlock", "bob"}, wire.Request{Op: wire.OpUserUnlock, User: "bob"}, "bob is unlocked.\n"},
		{[]string{"user", "exempt", "bob"}, wire.Request{Op: wire.OpUserExempt, User: "bob"}, "bob is exempt from TOTP.\n"},
		{[]string{"user", "require", "bob"}, wire.Request{Op: wire.OpUserRequire, User: "bob"}, "bob is now required to use TOTP.\n"},
		{[]string{"user", "require", "bob", "--grace", "3d"}, wire.Request{Op: wire.OpUserRequire, User: "bob", Grace: "3d"}, "bob is now required to use TOTP, with 3d to enroll.\n"},
		{[]string{"user", "require", "--grace=1d12h", "bob"}, wire.Request{Op: wire.OpUserRequire, User: "bob", Grace: "1d12h"}, ""},
		// The configuration's durations, which the daemon parses the same way.
		{[]string{"user", "require", "bob", "--grace", "0"}, wire.Request{Op: wire.OpUserRequire, User: "bob", Grace: "0"}, ""},
		{[]string{"user", "require", "bob", "--grace", "1.5h"}, wire.Request{Op: wire.OpUserRequire, User: "bob", Grace: "1.5h"}, ""},
		{[]string{"user", "require", "bob", "--grace", "90m"}, wire.Request{Op: wire.OpUserRequire, User: "bob", Grace: "90m"}, ""},
		{[]string{"disable", "--code", " 123456 "}, wire.Request{Op: wire.OpDisable, Code: "123456"}, "Your TOTP secret is removed: logins no longer ask you for a code.\n"},
		{[]string{"--json", "user", "unlock", "bob"}, wire.Request{Op: wire.OpUserUnlock, User: "bob"}, "{\n  \"ok\": true\n}\n"},
		{[]string{"enroll", "confirm", "123 456", "654321"}, wire.Request{Op: wire.OpEnrollConfirm, Codes: []string{"123456", "654321"}}, ""},
	}
	for _, tc := range cases {
		before := len(ok.requests())
		r := runFake(t, ok, "", tc.args...)
		require.Equal(t, exitOK, r.code, "%v: %s", tc.args, r.stderr)
		reqs := ok.requests()
		require.Len(t, reqs, before+1)
		require.Equal(t, tc.want, reqs[before], "%v", tc.args)
		if tc.out != "" {
			require.Equal(t, tc.out, r.stdout, "%v", tc.args)
		}
	}

	// The daemon's own messages replace the default line.
	msg := fixed(wire.Response{Messages: []wire.Message{{Text: "bob is unlocked (was locked after 5 failures)."}}})
	r := runFake(t, msg, "", "user", "unlock", "bob")
	require.Equal(t, "bob is unlocked (was locked after 5 failures).\n", r.stdout)
}
