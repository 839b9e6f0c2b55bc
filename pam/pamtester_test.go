package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
	"github.com/totpd/totpd/e2e/testutils"
)

// pamtester prints these for the results of pam_authenticate.
const (
	ptSuccess  = "successfully authenticated"
	ptAuthErr  = "Authentication failure"
	ptUnavail  = "Authentication service cannot retrieve authentication info"
	ptUnknown  = "User not known to the underlying authentication module"
	ignoredTag = "TOTPD-IGNORED"
)

// pamtester authenticates user on service with stdin as the person's typing.
func pamtester(t *testing.T, service, user, stdin string) run {
	t.Helper()
	return runCmd(t, stdin, nil, "pamtester", "-v", "-I", "rhost=198.51.100.7", "-I", "tty=pts/9", service, user, "authenticate")
}

// simpleService is the plain stack: the module required, nothing else.
func simpleService(t *testing.T, d *wiretest.Server, args ...string) string {
	dir := moduleDir(t)
	return pamService(t, moduleLine("required", dir, d.Socket, args...), "account required pam_permit.so")
}

// ignoreService is a stack where the three outcomes differ for pamtester:
// success ends the stack (authenticated); PAM_IGNORE goes on to pam_echo,
// which prints ignoredTag, and pam_permit (authenticated, with the tag);
// a failure ends it with the module's own result.
func ignoreService(t *testing.T, d *wiretest.Server) string {
	dir := moduleDir(t)
	return pamService(t,
		moduleLine("[success=done ignore=ignore default=die]", dir, d.Socket),
		"auth optional pam_echo.so "+ignoredTag,
		"auth required pam_permit.so",
		"account required pam_permit.so")
}

func assertLogin(t *testing.T, reqs []wire.Request, service string) {
	t.Helper()
	require.NotEmpty(t, reqs)
	for _, r := range reqs {
		assert.Equal(t, "alice", r.User, "%s", r.Op)
		assert.Equal(t, service, r.Service, "%s", r.Op)
		assert.Equal(t, "198.51.100.7", r.RHost, "%s", r.Op)
		assert.Equal(t, "pts/9", r.TTY, "%s", r.Op)
	}
}

func TestPamtesterPromptAccepted(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456", wire.Message{Text: "Welcome, alice."}))
	svc := simpleService(t, d)
	r := pamtester(t, svc, "alice", "123456\n")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr+r.stdout, ptSuccess)
	assert.Contains(t, r.stdout+r.stderr, "Verification code: ")
	assert.Contains(t, r.stdout, "Welcome, alice.")
	reqs := d.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, wire.OpLoginQuery, reqs[0].Op)
	assert.Equal(t, wire.OpLoginVerify, reqs[1].Op)
	assert.Equal(t, "123456", reqs[1].Code)
	assertLogin(t, reqs, svc)
}

func TestPamtesterCustomPrompt(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	svc := simpleService(t, d, "[prompt=Your TOTP code: ]")
	r := pamtester(t, svc, "alice", "123456\n")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout+r.stderr, "Your TOTP code: ")
}

func TestPamtesterPromptRefused(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	r := pamtester(t, simpleService(t, d), "alice", "654321\n")
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, ptAuthErr)
	assert.Contains(t, r.stderr, "Wrong verification code.")
	assert.NotContains(t, r.stderr+r.stdout, ptSuccess)
}

func TestPamtesterEmptyCode(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	r := pamtester(t, simpleService(t, d), "alice", "\n")
	assert.Contains(t, r.stderr, ptAuthErr, "%s", r)
	assert.Len(t, d.Requests(), 1, "an empty code must not be sent")
}

func TestPamtesterIgnoreSuccessFailureDiffer(t *testing.T) {
	// PAM_IGNORE: the stack goes on, pam_echo shows the tag, pam_permit lets in.
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: action(wire.ActionIgnore)}))
	r := pamtester(t, ignoreService(t, d), "alice", "")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, ignoredTag)
	assert.Len(t, d.Requests(), 1)

	// PAM_SUCCESS: done, without reaching pam_echo.
	d = newFakeDaemon(t, promptFor("123456"))
	r = pamtester(t, ignoreService(t, d), "alice", "123456\n")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.NotContains(t, r.stdout, ignoredTag)

	// Failure: the module's own result, without reaching pam_echo.
	d = newFakeDaemon(t, promptFor("123456"))
	r = pamtester(t, ignoreService(t, d), "alice", "000000\n")
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, ptAuthErr)
	assert.NotContains(t, r.stdout, ignoredTag)
}

func TestPamtesterAllowShowsMessage(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: action(wire.ActionAllow,
		wire.Message{Text: "A verification code will be required for alice from 2031-01-01."})}))
	svc := simpleService(t, d)
	r := pamtester(t, svc, "alice", "")
	assert.Equal(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stdout, "A verification code will be required for alice from 2031-01-01.")
	assert.NotContains(t, r.stdout+r.stderr, "Verification code: ")
	assertLogin(t, d.Requests(), svc)
}

func TestPamtesterDeny(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: action(wire.ActionDeny,
		wire.Message{Error: true, Text: "Too many wrong codes: locked for 15 minutes."})}))
	r := pamtester(t, simpleService(t, d), "alice", "123456\n")
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, ptAuthErr)
	assert.Contains(t, r.stderr, "locked for 15 minutes")
	assert.Len(t, d.Requests(), 1)
}

func TestPamtesterNoUser(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: refusal(wire.ErrCodeNoUser, "no such user")}))
	r := pamtester(t, simpleService(t, d), "alice", "")
	assert.Contains(t, r.stderr, ptUnknown, "%s", r)
}

func TestPamtesterEnrollAtLogin(t *testing.T) {
	d := newFakeDaemon(t, enrollDaemon(2))
	svc := simpleService(t, d)
	r := pamtester(t, svc, "alice", "111111\n222222\n\n")
	assert.Equal(t, 0, r.code, "%s", r)
	t.Logf("enrollment as pamtester shows it:\n%s", r.stdout)
	out := r.stdout + r.stderr
	for _, want := range []string{"Set up your authenticator app now.", "▀", "JBSW Y3DP EHPK 3PXP",
		"otpauth://totp/host.example:alice", "Code 1 of 2 from the app: ", "Code 2 of 2 from the app: ",
		"rc-one-1111", "rc-two-2222", "write these down now"} {
		assert.Contains(t, out, want)
	}
	// Through one pipe: each message comes out before the next question.
	c := runCmdOut(t, true, "111111\n222222\n\n", nil, "pamtester", svc, "alice", "authenticate")
	key, code1, rc := strings.Index(c.stdout, "JBSW Y3DP"), strings.Index(c.stdout, "Code 1 of 2"), strings.Index(c.stdout, "rc-one-1111")
	assert.True(t, key >= 0 && key < code1 && code1 < rc, "messages out of order:\n%s", c.stdout)
	for _, line := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(line, "otpauth://") {
			continue // kept whole for copying
		}
		assert.LessOrEqual(t, len([]rune(line)), 80, "line wider than 80 columns: %q", line)
	}
	reqs := d.Requests()
	require.Len(t, reqs, 6)
	assert.Equal(t, []string{"111111", "222222"}, reqs[2].Codes)
	assertLogin(t, reqs[:3], svc)
}

func TestPamtesterDaemonMissing(t *testing.T) {
	d := newFakeDaemon(t, promptFor("1"))
	svc := simpleService(t, d)
	d.Close() // removes the socket
	r := pamtester(t, svc, "alice", "123456\n")
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, ptUnavail)
	assert.Less(t, r.elapsed, time.Second, "giving up on a missing socket should be quick")
}

func TestPamtesterDaemonHangs(t *testing.T) {
	d := newFakeDaemon(t, func(wire.Request) reply { return reply{hang: true} })
	r := pamtester(t, simpleService(t, d), "alice", "123456\n") // timeout=2
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.Contains(t, r.stderr, ptUnavail)
	assert.GreaterOrEqual(t, r.elapsed, 2*time.Second)
	assert.Less(t, r.elapsed, 3*time.Second)
	assert.Len(t, d.Requests(), 1)
}

func TestPamtesterDaemonHangsOnVerify(t *testing.T) {
	d := newFakeDaemon(t, func(req wire.Request) reply {
		if req.Op == wire.OpLoginQuery {
			return action(wire.ActionPrompt)
		}
		return reply{hang: true}
	})
	r := pamtester(t, simpleService(t, d), "alice", "123456\n")
	assert.Contains(t, r.stderr, ptUnavail, "%s", r)
	assert.Less(t, r.elapsed, 3*time.Second)
}

func TestPamtesterDaemonGarbage(t *testing.T) {
	for name, raw := range map[string][]byte{
		"not a frame":   []byte("HTTP/1.1 200 OK\r\n\r\n"),
		"not JSON":      []byte("\x00\x00\x00\x04{{{{"),
		"lying length":  []byte("\x00\x00\x10\x00{}"),
		"huge length":   []byte("\xff\xff\xff\xff"),
		"wrong version": []byte("\x00\x00\x00\x1a{\"v\":99,\"action\":\"allow\"}"),
		"unknown field": []byte("\x00\x00\x00\x20{\"v\":1,\"action\":\"allow\",\"x\":1}"),
	} {
		t.Run(name, func(t *testing.T) {
			d := newFakeDaemon(t, func(wire.Request) reply { return reply{raw: raw} })
			r := pamtester(t, simpleService(t, d), "alice", "123456\n")
			assert.NotEqual(t, 0, r.code, "%s", r)
			assert.Contains(t, r.stderr, ptUnavail)
			assert.Less(t, r.elapsed, 3*time.Second)
		})
	}
}

func TestPamtesterUnknownActionNeverSucceeds(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: action("yes-please")}))
	r := pamtester(t, simpleService(t, d), "alice", "")
	assert.Contains(t, r.stderr, ptUnavail, "%s", r)
}

func TestPamtesterSyslog(t *testing.T) {
	logs := syslogCapture(t)
	if logs == nil {
		testutils.Unmet(t, "/dev/log belongs to a syslog daemon here, so the module's log lines cannot be read")
	}
	d := newFakeDaemon(t, promptFor("123456"))
	svc := simpleService(t, d, "debug", "bogus-arg")
	r := pamtester(t, svc, "alice", "987654\n")
	assert.Contains(t, r.stderr, ptAuthErr, "%s", r)
	got := logs(`user="alice" service="` + svc + `"`)
	assert.Contains(t, got, `user="alice" service="`+svc+`"`)
	assert.Contains(t, got, "bogus-arg")
	assert.NotContains(t, got, "987654", "a code was logged")

	missing := newFakeDaemon(t, promptFor("1"))
	svc = simpleService(t, missing)
	missing.Close()
	pamtester(t, svc, "alice", "")
	assert.Contains(t, logs("not answering on "+missing.Socket), "not answering on "+missing.Socket)
}
