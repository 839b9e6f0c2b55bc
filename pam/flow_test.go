package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/enrolltext"
	"github.com/totpd/totpd/daemon/qrterm"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
)

// fakeHost is a PAM application in Go: it answers prompts from a script
// and records what the module showed and logged.
type fakeHost struct {
	user    string
	userErr int
	answers []string
	convErr int // returned by Prompt once the answers run out (0: pamConvErr)
	env     map[string]string

	prompts []string // "echo-off: TEXT" / "echo-on: TEXT"
	shown   []string // "info: TEXT" / "error: TEXT"
	logs    []string
	authtok []string // each PAM_AUTHTOK the module set
}

func (h *fakeHost) User() (string, int) {
	if h.userErr != 0 {
		return "", h.userErr
	}
	return h.user, pamSuccess
}
func (h *fakeHost) Service() string        { return "sshd" }
func (h *fakeHost) RHost() string          { return "192.0.2.1" }
func (h *fakeHost) TTY() string            { return "ssh" }
func (h *fakeHost) Env(name string) string { return h.env[name] }

func (h *fakeHost) Prompt(text string, echo bool) (string, int) {
	kind := "echo-off"
	if echo {
		kind = "echo-on"
	}
	h.prompts = append(h.prompts, kind+": "+text)
	if len(h.answers) == 0 {
		if h.convErr != 0 {
			return "", h.convErr
		}
		return "", pamConvErr
	}
	a := h.answers[0]
	h.answers = h.answers[1:]
	return a, pamSuccess
}

func (h *fakeHost) Message(text string, isError bool) int {
	kind := "info"
	if isError {
		kind = "error"
	}
	h.shown = append(h.shown, kind+": "+text)
	return pamSuccess
}

func (h *fakeHost) Log(prio int, line string) {
	h.logs = append(h.logs, fmt.Sprintf("<%d> %s", prio, line))
}

func (h *fakeHost) SetAuthtok(tok string) int {
	h.authtok = append(h.authtok, tok)
	return pamSuccess
}

func (h *fakeHost) allShown() string { return strings.Join(h.shown, "\n") }

func opts(d *wiretest.Server) options {
	return options{socket: d.Socket, timeout: 2 * time.Second, prompt: defaultPrompt, debug: true, serverUID: os.Getuid()}
}

func TestFlowPromptAccepted(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456", wire.Message{Text: "Welcome back."}))
	h := &fakeHost{user: "alice", answers: []string{"123456"}}
	assert.Equal(t, pamSuccess, authenticate(h, opts(d)))
	assert.Equal(t, []string{"echo-off: Verification code: "}, h.prompts)
	assert.Equal(t, []string{"info: Welcome back."}, h.shown)
	reqs := d.Requests()
	require.Len(t, reqs, 2)
	for i, op := range []wire.Op{wire.OpLoginQuery, wire.OpLoginVerify} {
		assert.Equal(t, op, reqs[i].Op)
		assert.Equal(t, "alice", reqs[i].User)
		assert.Equal(t, "sshd", reqs[i].Service)
		assert.Equal(t, "192.0.2.1", reqs[i].RHost)
		assert.Equal(t, "ssh", reqs[i].TTY)
	}
	assert.Equal(t, "", reqs[0].Code)
	assert.Equal(t, "123456", reqs[1].Code)
	for _, l := range h.logs {
		assert.NotContains(t, l, "123456", "a code was logged")
	}
}

func TestFlowPromptRefused(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	h := &fakeHost{user: "alice", answers: []string{"654321"}}
	assert.Equal(t, pamAuthErr, authenticate(h, opts(d)))
	assert.Equal(t, []string{"error: Wrong verification code."}, h.shown)
	for _, l := range h.logs {
		assert.NotContains(t, l, "654321", "a code was logged")
	}
}

func TestFlowLockedIsAuthErr(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{
		wire.OpLoginQuery:  action(wire.ActionPrompt),
		wire.OpLoginVerify: {resp: &wire.Response{Locked: true, Error: &wire.Error{Code: wire.ErrCodeLocked, Message: "Locked for 15 minutes."}}},
	}))
	h := &fakeHost{user: "alice", answers: []string{"000000"}}
	assert.Equal(t, pamAuthErr, authenticate(h, opts(d)))
	assert.Equal(t, []string{"error: Locked for 15 minutes."}, h.shown)
}

// "unavailable" (fleet mode, offline = "deny", etcd not answering) is
// PAM_AUTHINFO_UNAVAIL, not PAM_AUTH_ERR, at any step: the daemon's
// message is still shown and the refusal is logged for the admin.
func TestFlowUnavailableIsAuthinfoUnavail(t *testing.T) {
	const msg = "totpd cannot reach its etcd cluster and is set to refuse logins meanwhile (offline = \"deny\")."
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{
		wire.OpLoginQuery:  action(wire.ActionPrompt),
		wire.OpLoginVerify: refusal(wire.ErrCodeUnavailable, msg),
	}))
	h := &fakeHost{user: "alice", answers: []string{"123456"}}
	assert.Equal(t, pamAuthinfoUnavail, authenticate(h, opts(d)))
	assert.Equal(t, []string{"error: " + msg}, h.shown)
	assert.Contains(t, strings.Join(h.logs, "\n"), "cannot decide now")
	for _, l := range h.logs {
		assert.NotContains(t, l, "123456", "a code was logged")
	}
}

func TestFlowEmptyCodeIsNotSent(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	h := &fakeHost{user: "alice", answers: []string{""}}
	assert.Equal(t, pamAuthErr, authenticate(h, opts(d)))
	assert.Len(t, d.Requests(), 1)
}

func TestFlowConversationFails(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	h := &fakeHost{user: "alice"}
	assert.Equal(t, pamConvErr, authenticate(h, opts(d)))
	assert.Len(t, d.Requests(), 1)
}

func TestFlowActions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply reply
		want  int
		shown []string
	}{
		{"ignore", action(wire.ActionIgnore), pamIgnore, nil},
		{"allow", action(wire.ActionAllow, wire.Message{Text: "Set it up by Friday."}), pamSuccess, []string{"info: Set it up by Friday."}},
		{"deny", action(wire.ActionDeny, wire.Message{Error: true, Text: "Past the deadline."}), pamAuthErr, []string{"error: Past the deadline."}},
		{"unknown action", action("maybe"), pamAuthinfoUnavail, nil},
		{"no_user", refusal(wire.ErrCodeNoUser, "no such user"), pamUserUnknown, nil},
		{"state", refusal(wire.ErrCodeState, "state unreadable"), pamAuthErr, []string{"error: state unreadable"}},
		{"unavailable", refusal(wire.ErrCodeUnavailable, "The etcd cluster does not answer, so totpd cannot decide."), pamAuthinfoUnavail,
			[]string{"error: The etcd cluster does not answer, so totpd cannot decide."}},
		{"garbage", reply{raw: []byte("\x00\x00\x00\x05hello")}, pamAuthinfoUnavail, nil},
		{"closed", reply{raw: []byte{}}, pamAuthinfoUnavail, nil},
		{"error without message", reply{resp: &wire.Response{Error: &wire.Error{Code: "denied"}}}, pamAuthinfoUnavail, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: tc.reply}))
			h := &fakeHost{user: "alice"}
			assert.Equal(t, tc.want, authenticate(h, opts(d)))
			assert.Equal(t, tc.shown, h.shown)
			assert.Empty(t, h.prompts)
		})
	}
}

func TestFlowSilentShowsNothing(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: action(wire.ActionAllow, wire.Message{Text: "hello"})}))
	h := &fakeHost{user: "alice"}
	o := opts(d)
	o.silent = true
	assert.Equal(t, pamSuccess, authenticate(h, o))
	assert.Empty(t, h.shown)
}

func TestFlowUser(t *testing.T) {
	d := newFakeDaemon(t, promptFor("1"))
	assert.Equal(t, pamUserUnknown, authenticate(&fakeHost{user: ""}, opts(d)))
	assert.Equal(t, pamConvErr, authenticate(&fakeHost{userErr: pamConvErr}, opts(d)))
	assert.Equal(t, pamServiceErr, authenticate(&fakeHost{userErr: 4 /* PAM_SYSTEM_ERR */}, opts(d)))
	assert.Empty(t, d.Requests())
}

func TestFlowDaemonUnavailable(t *testing.T) {
	dir := t.TempDir()
	h := &fakeHost{user: "alice"}
	start := time.Now()
	assert.Equal(t, pamAuthinfoUnavail, authenticate(h, options{socket: filepath.Join(dir, "none.sock"), timeout: time.Second}))
	assert.Less(t, time.Since(start), 500*time.Millisecond)
	require.NotEmpty(t, h.logs)
	assert.Contains(t, h.logs[0], "not answering")
}

// A daemon that is not run by the expected uid (root, outside tests) is
// refused before anything is sent to it, however yes its answer: an
// unprivileged process on the socket cannot let anyone in.
func TestFlowRefusesServerOfAnotherUID(t *testing.T) {
	d := newFakeDaemon(t, func(wire.Request) reply { return reply{resp: &wire.Response{Action: wire.ActionAllow}} })
	o := opts(d)
	o.serverUID = os.Getuid() + 1
	h := &fakeHost{user: "alice"}
	assert.Equal(t, pamAuthinfoUnavail, authenticate(h, o))
	assert.Empty(t, d.Requests(), "the module sent a request to a server of another uid")
	logs := strings.Join(h.logs, "\n")
	assert.Contains(t, logs, fmt.Sprintf("the socket at %s is served by uid %d, not uid %d", d.Socket, os.Getuid(), os.Getuid()+1))
	assert.Contains(t, logs, "misconfiguration")
	assert.Contains(t, logs, "attack")

	// The module's default expects root.
	assert.Equal(t, 0, parseArgs(nil, func(string) {}).serverUID)
}

func TestFlowDaemonHangs(t *testing.T) {
	d := newFakeDaemon(t, func(wire.Request) reply { return reply{hang: true} })
	o := opts(d)
	o.timeout = 500 * time.Millisecond
	start := time.Now()
	assert.Equal(t, pamAuthinfoUnavail, authenticate(&fakeHost{user: "alice"}, o))
	assert.Less(t, time.Since(start), o.timeout+time.Second)
}

// enrollDaemon enrolls at login with confirm codes "111111" and "222222".
func enrollDaemon(confirm int) func(wire.Request) reply {
	return func(req wire.Request) reply {
		switch req.Op {
		case wire.OpLoginQuery:
			return action(wire.ActionEnroll, wire.Message{Text: "Set up your authenticator app now."})
		case wire.OpLoginEnrollBegin:
			const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
			const uri = "otpauth://totp/host.example:alice?secret=" + secret + "&issuer=host.example&algorithm=SHA1&digits=6&period=30"
			// The text as totpd renders it (daemon/engine loginEnrollmentText).
			qr, _ := qrterm.Fit(uri)
			return reply{resp: &wire.Response{Enrollment: &wire.Enrollment{
				User: req.User, Secret: secret, ConfirmCodes: confirm, URI: uri,
				Text: enrolltext.Conversation(secret, uri, qr),
			}}}
		case wire.OpLoginEnrollConfirm:
			want := []string{"111111", "222222"}[:confirm]
			if strings.Join(req.Codes, ",") != strings.Join(want, ",") {
				return refusal(wire.ErrCodeDenied, "Those codes do not match.")
			}
			rc := []string{"rc-one-1111", "rc-two-2222"}
			return reply{resp: &wire.Response{Enrollment: &wire.Enrollment{User: req.User, RecoveryCodes: rc, Text: enrolltext.RecoveryConversation(rc)}}}
		}
		return reply{}
	}
}

func TestFlowEnroll(t *testing.T) {
	d := newFakeDaemon(t, enrollDaemon(2))
	h := &fakeHost{user: "alice", answers: []string{"111111", " 222222 ", ""}}
	require.Equal(t, pamSuccess, authenticate(h, opts(d)))
	assert.Equal(t, []string{
		"echo-on: Code 1 of 2 from the app: ",
		"echo-on: Code 2 of 2 from the app: ",
		"echo-on: Press Enter once you have written them down: ",
	}, h.prompts)
	all := h.allShown()
	assert.Contains(t, all, "Set up your authenticator app now.")
	assert.Contains(t, all, "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP")
	assert.Contains(t, all, "otpauth://totp/host.example:alice?secret=")
	assert.Contains(t, all, "▀")
	assert.Contains(t, all, "rc-one-1111")
	assert.Contains(t, all, "rc-two-2222")
	reqs := d.Requests()
	require.Len(t, reqs, 3)
	assert.Equal(t, []string{"111111", "222222"}, reqs[2].Codes)
	for _, l := range h.logs {
		assert.NotContains(t, l, "111111")
		assert.NotContains(t, l, "JBSW")
		assert.NotContains(t, l, "rc-one")
	}
}

func TestFlowEnrollOneCodeRefused(t *testing.T) {
	d := newFakeDaemon(t, enrollDaemon(1))
	h := &fakeHost{user: "alice", answers: []string{"999999"}}
	assert.Equal(t, pamAuthErr, authenticate(h, opts(d)))
	assert.Equal(t, []string{"echo-on: Code from the app: "}, h.prompts)
	assert.Contains(t, h.allShown(), "error: Those codes do not match.")
	assert.NotContains(t, h.allShown(), "rc-one")
}

func TestFlowEnrollNonsense(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{
		wire.OpLoginQuery:       action(wire.ActionEnroll),
		wire.OpLoginEnrollBegin: {resp: &wire.Response{}},
	}))
	assert.Equal(t, pamAuthinfoUnavail, authenticate(&fakeHost{user: "alice"}, opts(d)))
}

func TestParseArgs(t *testing.T) {
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	os.Setenv("TOTPD_SOCKET", "/tmp/evil.sock")
	defer os.Unsetenv("TOTPD_SOCKET")
	o := parseArgs(nil, warn)
	assert.Equal(t, options{socket: "/run/totpd/totpd.sock", timeout: 10 * time.Second, prompt: "Verification code: "}, o)

	o = parseArgs([]string{"socket=/x/y.sock", "timeout=2", "prompt=Your code: ", "debug"}, warn)
	assert.Equal(t, options{socket: "/x/y.sock", timeout: 2 * time.Second, prompt: "Your code: ", debug: true}, o)
	assert.Empty(t, warnings)

	o = parseArgs([]string{"timeout=0.5"}, warn)
	assert.Equal(t, 500*time.Millisecond, o.timeout)

	o = parseArgs([]string{"socket=relative.sock", "timeout=-1", "timeout=abc", "timeout=1e9", "prompt=", "debug=1", "nullok"}, warn)
	assert.Equal(t, options{socket: "/run/totpd/totpd.sock", timeout: 10 * time.Second, prompt: "Verification code: "}, o)
	assert.Len(t, warnings, 7)
}

func TestSplitMessage(t *testing.T) {
	assert.Equal(t, []string{"short"}, splitMessage("short", 512))
	lines := make([]string, 50)
	for i := range lines {
		lines[i] = strings.Repeat("x", 30)
	}
	text := strings.Join(lines, "\n")
	parts := splitMessage(text, 100)
	for _, p := range parts {
		assert.LessOrEqual(t, len(p), 99)
	}
	assert.Equal(t, text, strings.Join(parts, "\n"))
	assert.Equal(t, "\nabc\n\ndef", strings.Join(splitMessage("\nabc\n\ndef", 4), "\n"))
}

// TestFlowEnrollWithoutText: an enrollment the module cannot show (the
// daemon sent no text) is the daemon answering nonsense.
func TestFlowEnrollWithoutText(t *testing.T) {
	d := newFakeDaemon(t, func(req wire.Request) reply {
		if req.Op == wire.OpLoginQuery {
			return action(wire.ActionEnroll)
		}
		return reply{resp: &wire.Response{Enrollment: &wire.Enrollment{User: req.User, Secret: "JBSWY3DPEHPK3PXP", URI: "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP"}}}
	})
	h := &fakeHost{user: "alice"}
	require.Equal(t, pamAuthinfoUnavail, authenticate(h, opts(d)))
}

// TestFlowTimeoutBoundsWholeExchange: timeout= bounds all calls of one
// authentication together, so a daemon slow on each call cannot stretch a
// login to a multiple of it.
func TestFlowTimeoutBoundsWholeExchange(t *testing.T) {
	d := newFakeDaemon(t, func(req wire.Request) reply {
		time.Sleep(350 * time.Millisecond) // a slow daemon, not synchronisation
		if req.Op == wire.OpLoginQuery {
			return reply{resp: &wire.Response{Action: wire.ActionPrompt}}
		}
		return reply{resp: &wire.Response{}}
	})
	o := opts(d)
	o.timeout = 500 * time.Millisecond
	h := &fakeHost{user: "alice", answers: []string{"123456"}}
	start := time.Now()
	assert.Equal(t, pamAuthinfoUnavail, authenticate(h, o))
	assert.Less(t, time.Since(start), o.timeout+250*time.Millisecond)
}
