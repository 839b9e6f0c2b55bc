package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
)

// maxConfirmCodes bounds how many codes an enrollment may ask for; the
// config allows 1 or 2, so more means the daemon is answering nonsense.
const maxConfirmCodes = 5

// flow is one login: the user, the daemon and the conversation.
type flow struct {
	h    host
	o    options
	c    *client.Client
	user string
	// service, rhost and tty go with every request, for the audit log.
	service, rhost, tty string
	// pubkey identifies the public key sshd says the login used (pubKeyID).
	pubkey string
	// budget is what is left of timeout= for talking to the daemon. It
	// bounds the whole exchange, all calls together; the time the person
	// takes to type is not counted.
	budget time.Duration
}

// authenticate runs the login flow and reports the PAM result. It
// returns pamSuccess only when the daemon said yes: an allow, an accepted
// code or a confirmed enrollment.
func authenticate(h host, o options) int {
	c := client.New(o.socket, o.timeout)
	c.ServerUID = o.serverUID
	f := &flow{h: h, o: o, c: c, budget: o.timeout}
	user, r := h.User()
	switch {
	case r == pamConvErr:
		f.logf(logErr, "cannot get the user name: conversation failed")
		return pamConvErr
	case r != pamSuccess:
		f.logf(logErr, "cannot get the user name (PAM error %d)", r)
		return pamServiceErr
	case user == "":
		return pamUserUnknown
	}
	f.user, f.service, f.rhost, f.tty = user, h.Service(), h.RHost(), h.TTY()
	f.pubkey = pubKeyID(h.Env(authInfoEnv))
	f.debugf("user=%q service=%q rhost=%q tty=%q socket=%s", f.user, f.service, f.rhost, f.tty, o.socket)

	resp, r := f.call(wire.OpLoginQuery, wire.Request{})
	if resp == nil {
		return r
	}
	f.debugf("user=%q action=%q", f.user, resp.Action)
	if f.o.forwardPass {
		// forward.go: no enrollment ahead of the password check; and users
		// asked no code still give the password for the stack behind.
		if r := f.forwardFirst(resp.Action); r != pamSuccess {
			return r
		}
	}
	switch resp.Action {
	case wire.ActionIgnore:
		return pamIgnore
	case wire.ActionAllow:
		f.show(resp.Messages)
		return pamSuccess
	case wire.ActionDeny:
		f.show(resp.Messages)
		return pamAuthErr
	case wire.ActionPrompt:
		f.show(resp.Messages)
		if f.o.forwardPass {
			return f.verifyForward(resp.Digits)
		}
		return f.verify()
	case wire.ActionEnroll:
		f.show(resp.Messages)
		return f.enroll()
	}
	f.logf(logErr, "totpd answered the login query for %q with unknown action %q", f.user, resp.Action)
	return pamAuthinfoUnavail
}

// verify asks for a code and has the daemon check it.
func (f *flow) verify() int {
	code, r := f.h.Prompt(f.o.prompt, false)
	if r != pamSuccess {
		f.logf(logErr, "asking %q for a code: conversation failed (PAM error %d)", f.user, r)
		return pamConvErr
	}
	if code == "" {
		f.debugf("user=%q gave no code", f.user)
		return pamAuthErr
	}
	resp, r := f.call(wire.OpLoginVerify, wire.Request{Code: code})
	if resp == nil {
		return r
	}
	f.debugf("user=%q code accepted", f.user)
	f.show(resp.Messages)
	return pamSuccess
}

// enroll runs an enrollment inside the login: the daemon makes a secret,
// the user adds it to an app and proves it with codes from the app.
func (f *flow) enroll() int {
	resp, r := f.call(wire.OpLoginEnrollBegin, wire.Request{})
	if resp == nil {
		return r
	}
	e := resp.Enrollment
	if e == nil || e.Secret == "" || e.URI == "" || e.Text == "" || e.ConfirmCodes > maxConfirmCodes {
		f.logf(logErr, "totpd answered the enrollment of %q without a usable secret", f.user)
		return pamAuthinfoUnavail
	}
	f.show(resp.Messages)
	// The enrollment is useless unseen, so it is shown even with PAM_SILENT.
	if r := f.h.Message(e.Text, false); r != pamSuccess {
		f.logf(logErr, "showing the enrollment to %q: conversation failed (PAM error %d)", f.user, r)
		return pamConvErr
	}
	n := max(e.ConfirmCodes, 1)
	codes := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		q := "Code from the app: "
		if n > 1 {
			q = fmt.Sprintf("Code %d of %d from the app: ", i, n)
		}
		code, r := f.h.Prompt(q, true)
		if r != pamSuccess {
			f.logf(logErr, "asking %q for enrollment codes: conversation failed (PAM error %d)", f.user, r)
			return pamConvErr
		}
		if code = strings.TrimSpace(code); code == "" {
			return pamAuthErr
		}
		codes = append(codes, code)
	}
	resp, r = f.call(wire.OpLoginEnrollConfirm, wire.Request{Codes: codes})
	if resp == nil {
		return r
	}
	f.logf(logInfo, "user %q enrolled at login", f.user)
	f.show(resp.Messages)
	if resp.Enrollment != nil && len(resp.Enrollment.RecoveryCodes) > 0 && resp.Enrollment.Text != "" {
		f.h.Message(resp.Enrollment.Text, false)
		// A question makes every host show the codes now: sshd, for one,
		// would otherwise keep messages for after the login, or drop them.
		// The daemon has said yes already, so the answer does not matter.
		f.h.Prompt("Press Enter once you have written them down: ", true)
	}
	return pamSuccess
}

// call sends one request about the user. It reports the response, or nil
// and the PAM result to return: the daemon's refusal (shown to the user)
// is PAM_AUTH_ERR, or PAM_USER_UNKNOWN for an unknown account, or
// PAM_AUTHINFO_UNAVAIL for "unavailable" (fleet mode with offline =
// "deny" while etcd does not answer: nothing was decided, also shown);
// no daemon or a senseless answer is PAM_AUTHINFO_UNAVAIL.
func (f *flow) call(op wire.Op, req wire.Request) (*wire.Response, int) {
	req.Op, req.User, req.Service, req.RHost, req.TTY, req.PubKey = op, f.user, f.service, f.rhost, f.tty, f.pubkey
	if f.o.forwardPass {
		req.Flow = wire.FlowForwardPass // no remembered login for one prompt
	}
	if f.budget <= 0 {
		f.logf(logErr, "user %q: %s: the timeout of %v for talking to totpd is used up", f.user, op, f.o.timeout)
		return nil, pamAuthinfoUnavail
	}
	f.c.Timeout = f.budget
	start := time.Now()
	resp, err := f.c.Call(context.Background(), req)
	f.budget -= time.Since(start)
	var refusal *wire.Error
	switch {
	case err == nil:
		return resp, pamSuccess
	case errors.As(err, &refusal):
		f.debugf("user=%q %s refused: %s", f.user, op, refusal.Code)
		if refusal.Code == wire.ErrCodeNoUser {
			return nil, pamUserUnknown
		}
		if resp != nil {
			f.show(resp.Messages)
		}
		f.show([]wire.Message{{Error: true, Text: refusal.Message}})
		if refusal.Code == wire.ErrCodeUnavailable {
			// Not a no: totpd could not decide (the etcd cluster does not
			// answer), so the stack sees the factor as unavailable.
			f.logf(logErr, "user %q: %s: totpd cannot decide now: %s", f.user, op, refusal.Message)
			return nil, pamAuthinfoUnavail
		}
		return nil, pamAuthErr
	case client.IsUnavailable(err):
		f.logf(logErr, "user %q: %s: %v", f.user, op, err)
		return nil, pamAuthinfoUnavail
	default:
		f.logf(logErr, "user %q: %s: unexpected error: %v", f.user, op, err)
		return nil, pamAuthinfoUnavail
	}
}

// show passes the daemon's messages on, unless the application asked for silence.
func (f *flow) show(msgs []wire.Message) {
	if f.o.silent {
		return
	}
	for _, m := range msgs {
		if m.Text != "" {
			f.h.Message(m.Text, m.Error)
		}
	}
}

func (f *flow) logf(prio int, format string, args ...any) {
	f.h.Log(prio, fmt.Sprintf(format, args...))
}

func (f *flow) debugf(format string, args ...any) {
	if f.o.debug {
		f.h.Log(logDebug, fmt.Sprintf(format, args...))
	}
}
