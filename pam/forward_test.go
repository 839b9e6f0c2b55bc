package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/wire"
)

func TestSplitCode(t *testing.T) {
	long := strings.Repeat("p", maxAuthtok)
	for _, tc := range []struct {
		input          string
		digits         int
		password, code string
		ok             bool
	}{
		{"s3cret!123456", 6, "s3cret!", "123456", true},
		{"s3cret!12345678", 8, "s3cret!", "12345678", true},
		{"s3cret!12345678", 6, "s3cret!12", "345678", true}, // the length is the daemon's word
		{"pw99123456", 6, "pw99", "123456", true},           // a password may end in digits
		{"pass 123456", 6, "pass ", "123456", true},         // nothing is trimmed
		{" 123456", 6, " ", "123456", true},
		{"pässwörd123456", 6, "pässwörd", "123456", true},
		{long + "123456", 6, long, "123456", true},
		{long + "x123456", 6, "", "", false}, // a password over PAM_MAX_RESP_SIZE-1
		{"123456", 6, "", "", false},         // a code alone: no password
		{"12345", 6, "", "", false},
		{"", 6, "", "", false},
		{"s3cret!", 6, "", "", false},       // a password alone
		{"s3cret!12345a", 6, "", "", false}, // not all digits
		{"s3cret!123 456", 6, "", "", false},
		{"s3cret!123456 ", 6, "", "", false},
		{"s3cret!12345\n", 6, "", "", false},
		{"pw١٢٣٤٥٦", 6, "", "", false}, // digits, but not ASCII
		{"pw123456", 0, "", "", false},
	} {
		password, code, ok := splitCode(tc.input, tc.digits)
		assert.Equal(t, tc.ok, ok, "%q/%d", tc.input, tc.digits)
		assert.Equal(t, tc.password, password, "%q/%d", tc.input, tc.digits)
		assert.Equal(t, tc.code, code, "%q/%d", tc.input, tc.digits)
	}
}

// promptDigits is promptFor with the code length in the query's answer.
func promptDigits(good string, digits int, welcome ...wire.Message) func(wire.Request) reply {
	inner := promptFor(good, welcome...)
	return func(req wire.Request) reply {
		if req.Op == wire.OpLoginQuery {
			return reply{resp: &wire.Response{Action: wire.ActionPrompt, Digits: digits}}
		}
		return inner(req)
	}
}

func forwardOpts(o options) options {
	o.forwardPass, o.prompt = true, defaultForwardPrompt
	return o
}

// assertNothingSecret checks that neither the logs (debug is on in these
// tests) nor any request carry the password or the whole input.
func assertNothingSecret(t *testing.T, h *fakeHost, reqs []wire.Request, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, l := range h.logs {
			assert.NotContains(t, l, s, "logged")
		}
		for _, r := range reqs {
			assert.NotContains(t, fmt.Sprintf("%+v", r), s, "sent to the daemon")
		}
	}
}

func TestForwardPassAccepted(t *testing.T) {
	for _, digits := range []int{6, 8} {
		code := "12345678"[:digits]
		d := newFakeDaemon(t, promptDigits(code, digits, wire.Message{Text: "Welcome back."}))
		h := &fakeHost{user: "alice", answers: []string{"s3cret!" + code}}
		require.Equal(t, pamSuccess, authenticate(h, forwardOpts(opts(d))))
		assert.Equal(t, []string{"echo-off: Password and verification code: "}, h.prompts, "one prompt, echo off")
		assert.Equal(t, []string{"s3cret!"}, h.authtok, "the rest is handed on")
		assert.Equal(t, []string{"info: Welcome back."}, h.shown)
		reqs := d.Requests()
		require.Len(t, reqs, 2)
		assert.Equal(t, wire.OpLoginVerify, reqs[1].Op)
		assert.Equal(t, code, reqs[1].Code)
		assertNothingSecret(t, h, reqs, "s3cret!")
		for _, l := range h.logs {
			assert.NotContains(t, l, code, "a code was logged")
		}
	}
}

// A wrong code is the daemon's no; nothing is handed on.
func TestForwardPassWrongCode(t *testing.T) {
	d := newFakeDaemon(t, promptDigits("123456", 6))
	h := &fakeHost{user: "alice", answers: []string{"s3cret!654321"}}
	assert.Equal(t, pamAuthErr, authenticate(h, forwardOpts(opts(d))))
	assert.Empty(t, h.authtok)
	assert.Equal(t, []string{"error: Wrong verification code."}, h.shown)
	assertNothingSecret(t, h, d.Requests(), "s3cret!")
	for _, l := range h.logs {
		assert.NotContains(t, l, "654321", "a code was logged")
	}
}

// Input without a code at its end is refused before anything is sent:
// the code is not used up and no failure is counted.
func TestForwardPassNoCodeNotSent(t *testing.T) {
	for _, input := range []string{"s3cret!", "123456", "12345", "", "s3cret!12345a", "s3cret! 123456 "} {
		d := newFakeDaemon(t, promptDigits("123456", 6))
		h := &fakeHost{user: "alice", answers: []string{input}}
		assert.Equal(t, pamAuthErr, authenticate(h, forwardOpts(opts(d))), "%q", input)
		assert.Empty(t, h.authtok, "%q", input)
		reqs := d.Requests()
		require.Len(t, reqs, 1, "%q: only the query goes to the daemon", input)
		assert.Equal(t, wire.OpLoginQuery, reqs[0].Op)
		assert.Equal(t, []string{"error: Type your password and then, without a space, the 6-digit verification code."}, h.shown)
		if input != "" {
			assertNothingSecret(t, h, reqs, input)
		}
	}
	// PAM_SILENT: refused the same, without the hint.
	d := newFakeDaemon(t, promptDigits("123456", 6))
	h := &fakeHost{user: "alice", answers: []string{"s3cret!"}}
	o := forwardOpts(opts(d))
	o.silent = true
	assert.Equal(t, pamAuthErr, authenticate(h, o))
	assert.Empty(t, h.shown)
}

// A daemon that does not say the code length (one older than the module)
// cannot be guessed at: unavailable, and nobody is asked anything.
func TestForwardPassNoDigits(t *testing.T) {
	for _, digits := range []int{0, 5, 9, -1} {
		d := newFakeDaemon(t, promptDigits("123456", digits))
		h := &fakeHost{user: "alice", answers: []string{"s3cret!123456"}}
		assert.Equal(t, pamAuthinfoUnavail, authenticate(h, forwardOpts(opts(d))), "digits %d", digits)
		assert.Empty(t, h.prompts)
		assert.Empty(t, h.authtok)
		assert.Len(t, d.Requests(), 1)
	}
}

// Users who get no code prompt still give the password once, for the
// stack behind; the result is then what the action says.
func TestForwardPassActions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  reply
		result  int
		prompts []string
		authtok []string
		shown   []string
	}{
		{"ignore", action(wire.ActionIgnore), pamIgnore, []string{"echo-off: Password: "}, []string{"hunter2"}, nil},
		{"allow", action(wire.ActionAllow, wire.Message{Text: "Set it up by Friday."}), pamSuccess,
			[]string{"echo-off: Password: "}, []string{"hunter2"}, []string{"info: Set it up by Friday."}},
		{"deny", action(wire.ActionDeny, wire.Message{Error: true, Text: "Locked."}), pamAuthErr, nil, nil, []string{"error: Locked."}},
		{"unknown user", refusal(wire.ErrCodeNoUser, "no such user"), pamUserUnknown, nil, nil, nil},
		{"unknown action", action("dance"), pamAuthinfoUnavail, nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: tc.answer}))
			h := &fakeHost{user: "alice", answers: []string{"hunter2"}}
			assert.Equal(t, tc.result, authenticate(h, forwardOpts(opts(d))))
			assert.Equal(t, tc.prompts, h.prompts)
			assert.Equal(t, tc.authtok, h.authtok)
			assert.Equal(t, tc.shown, h.shown)
			assert.Len(t, d.Requests(), 1)
			assertNothingSecret(t, h, d.Requests(), "hunter2")
		})
	}
	// No password, or the conversation failing: nothing handed on.
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: action(wire.ActionIgnore)}))
	h := &fakeHost{user: "alice", answers: []string{""}}
	assert.Equal(t, pamAuthErr, authenticate(h, forwardOpts(opts(d))))
	assert.Empty(t, h.authtok)
	h = &fakeHost{user: "alice"}
	assert.Equal(t, pamConvErr, authenticate(h, forwardOpts(opts(d))))
	assert.Empty(t, h.authtok)
	h = &fakeHost{user: "alice", answers: []string{strings.Repeat("p", maxAuthtok+1)}}
	assert.Equal(t, pamAuthErr, authenticate(h, forwardOpts(opts(d))))
	assert.Empty(t, h.authtok)
}

// Enrollment at login with forward_pass is refused before anything is
// asked: the password is checked only after this module, so whoever knew
// the user name alone would choose the phone.
func TestForwardPassNoEnrollment(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{
		wire.OpLoginQuery:         action(wire.ActionEnroll, wire.Message{Text: "Set up your authenticator app now."}),
		wire.OpLoginEnrollBegin:   {resp: &wire.Response{Enrollment: &wire.Enrollment{User: "alice", Secret: "JBSWY3DPEHPK3PXP", URI: "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP", Text: "QR", ConfirmCodes: 1}}},
		wire.OpLoginEnrollConfirm: {resp: &wire.Response{}},
	}))
	h := &fakeHost{user: "alice", answers: []string{"hunter2", "123456"}}
	assert.Equal(t, pamAuthErr, authenticate(h, forwardOpts(opts(d))))
	assert.Empty(t, h.prompts)
	assert.Empty(t, h.authtok)
	assert.Contains(t, h.allShown(), "error: A verification code is required for alice and none is set up yet. It cannot be set up here")
	reqs := d.Requests()
	require.Len(t, reqs, 1, "no enrollment begun")
	assert.Equal(t, wire.OpLoginQuery, reqs[0].Op)
}

// Without forward_pass nothing is ever handed on.
func TestForwardPassOff(t *testing.T) {
	d := newFakeDaemon(t, promptDigits("123456", 6))
	h := &fakeHost{user: "alice", answers: []string{"123456"}}
	assert.Equal(t, pamSuccess, authenticate(h, opts(d)))
	assert.Equal(t, []string{"echo-off: Verification code: "}, h.prompts)
	assert.Empty(t, h.authtok)
	d = newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: action(wire.ActionIgnore)}))
	h = &fakeHost{user: "alice"}
	assert.Equal(t, pamIgnore, authenticate(h, opts(d)))
	assert.Empty(t, h.prompts)
}

func TestParseArgsForwardPass(t *testing.T) {
	var warnings []string
	warn := func(s string) { warnings = append(warnings, s) }
	o := parseArgs([]string{"forward_pass"}, warn)
	assert.True(t, o.forwardPass)
	assert.Equal(t, "Password and verification code: ", o.prompt)
	o = parseArgs([]string{"prompt=Kennwort und Code: ", "forward_pass"}, warn)
	assert.Equal(t, "Kennwort und Code: ", o.prompt, "prompt= replaces the one prompt")
	assert.Empty(t, warnings)
	o = parseArgs([]string{"forward_pass=1"}, warn)
	assert.False(t, o.forwardPass)
	assert.Equal(t, defaultPrompt, o.prompt)
	assert.Len(t, warnings, 1)
}

// pamHost hands on only what fits a PAM response, without a NUL.
func TestPamHostSetAuthtokBounds(t *testing.T) {
	defer func() { handoff = "" }()
	h := pamHost{}
	assert.Equal(t, pamServiceErr, h.SetAuthtok(strings.Repeat("p", maxResponse)))
	assert.Equal(t, pamServiceErr, h.SetAuthtok("a\x00b"))
	assert.Equal(t, "", handoff)
	assert.Equal(t, pamSuccess, h.SetAuthtok(strings.Repeat("p", maxResponse-1)))
	assert.Len(t, handoff, maxResponse-1)
}
