package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
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
	var stdout, stderr bytes.Buffer
	in := bufio.NewReader(strings.NewReader(input))
	e := &env{
		stdout: &stdout,
		stderr: &stderr,
		now:    func() time.Time { return testNow },
		loc:    loc,
		dial: func(socket string, timeout time.Duration) caller {
			if cl == nil {
				return client.New(socket, timeout)
			}
			return cl
		},
		stdinIsTerminal: func() bool { return false },
	}
	e.readCode = func(prompt string) (string, error) {
		stdout.WriteString(prompt)
		line, err := readLine(in)
		stdout.WriteString("\n") // as the terminal version does
		return line, err
	}
	code := run(args, e)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
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

// serveUnix runs a minimal daemon on a Unix socket that answers each
// request with handle, through the real wire framing.
func serveUnix(t *testing.T, handle func(wire.Request) wire.Response) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "totpctl")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				var req wire.Request
				if err := wire.ReadJSON(conn, 0, &req); err != nil {
					return
				}
				resp := handle(req)
				resp.Version = wire.Version
				_ = wire.WriteJSON(conn, resp)
			}()
		}
	}()
	return sock
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
		{"disable without code", []string{"disable"}, "", exitUsage, "needs --code"},
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
	r := runFake(t, deny, "", "disable", "--code", code)
	require.Equal(t, "totpctl: the code is not valid\ntotpctl: 4 attempts left before a lockout\n", r.stderr)
	require.Equal(t, exitFailed, r.code)
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
