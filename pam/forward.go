package main

// forward_pass (pam_totpd(8); ARCHITECTURE.md, "forward_pass: the
// password from the child to the host"): for
// services that ask once (OpenVPN, mail servers), one prompt takes the
// password and the code together; the code comes off the end, the rest
// is handed on as PAM_AUTHTOK for the next module (pam_unix.so
// use_first_pass). This file is the module's whole part of it; the C
// loader carries the password from its child to the host's handle.

import (
	"fmt"

	"github.com/totpd/totpd/daemon/wire"
)

// Prompts of forward_pass. prompt= replaces the first.
const (
	defaultForwardPrompt = "Password and verification code: "
	passwordPrompt       = "Password: "
)

// maxAuthtok is the longest password handed on: what fits a PAM
// response (PAM_MAX_RESP_SIZE with its NUL), the bound the loader's pipe
// holds it to as well.
const maxAuthtok = maxResponse - 1

// splitCode cuts input into the password and the code of digits digits
// at its end. ok is false when there is no code there: input no longer
// than a code (a password is needed too), a tail that is not all ASCII
// digits, or a password longer than maxAuthtok. Nothing is trimmed: a
// space is part of the password, and a separator between password and
// code would be too.
func splitCode(input string, digits int) (password, code string, ok bool) {
	if digits <= 0 || len(input) <= digits {
		return "", "", false
	}
	password, code = input[:len(input)-digits], input[len(input)-digits:]
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return "", "", false
		}
	}
	if len(password) > maxAuthtok {
		return "", "", false
	}
	return password, code, true
}

// verifyForward is verify for forward_pass: one prompt for password and
// code, the code checked by the daemon, and only then the password
// handed on. digits is the length of the user's codes, from login.query.
// Input without a code there is refused before anything is sent, so a
// mistyped line neither uses up the code nor counts as a failure.
func (f *flow) verifyForward(digits int) int {
	if digits < 6 || digits > 8 {
		f.logf(logErr, "user %q: totpd did not say how long the codes are (digits %d), which forward_pass needs: is the daemon older than the module?", f.user, digits)
		return pamAuthinfoUnavail
	}
	input, r := f.h.Prompt(f.o.prompt, false)
	if r != pamSuccess {
		f.logf(logErr, "asking %q for password and code: conversation failed (PAM error %d)", f.user, r)
		return pamConvErr
	}
	password, code, ok := splitCode(input, digits)
	if !ok {
		// The input itself is never logged: it holds the password.
		f.debugf("user=%q: the answer does not end in a %d-digit code after a password", f.user, digits)
		f.show([]wire.Message{{Error: true, Text: fmt.Sprintf("Type your password and then, without a space, the %d-digit verification code.", digits)}})
		return pamAuthErr
	}
	resp, r := f.call(wire.OpLoginVerify, wire.Request{Code: code})
	if resp == nil {
		return r
	}
	f.debugf("user=%q code accepted, password handed on", f.user)
	if r := f.handOn(password); r != pamSuccess {
		return r
	}
	f.show(resp.Messages)
	return pamSuccess
}

// forwardFirst is what forward_pass does between the daemon's answer to
// the login query and the action; pamSuccess means go on with the action.
//   - A user the module lets in or passes over without a code (ignore,
//     allow) is asked for the password, once, and it is handed on: the
//     stack behind still needs it.
//   - Enrollment at login is refused: with forward_pass the password is
//     checked after this module, so whoever knew only the user name would
//     choose the phone (README, "enroll_at_login trusts whoever passes the
//     factor before it").
func (f *flow) forwardFirst(a wire.Action) int {
	switch a {
	case wire.ActionIgnore, wire.ActionAllow:
		return f.forwardPassword()
	case wire.ActionEnroll:
		f.logf(logInfo, "user %q must enroll, which forward_pass does not do before the password is checked: refused", f.user)
		f.show([]wire.Message{{Error: true, Text: fmt.Sprintf("A verification code is required for %s and none is set up yet. It cannot be set up here: log in over SSH or at the console to set it up, or ask an administrator.", f.user)}})
		return pamAuthErr
	}
	return pamSuccess
}

// forwardPassword asks for the password alone and hands it on.
func (f *flow) forwardPassword() int {
	password, r := f.h.Prompt(passwordPrompt, false)
	if r != pamSuccess {
		f.logf(logErr, "asking %q for a password: conversation failed (PAM error %d)", f.user, r)
		return pamConvErr
	}
	if password == "" || len(password) > maxAuthtok {
		f.debugf("user=%q gave no password, or one over %d bytes", f.user, maxAuthtok)
		return pamAuthErr
	}
	return f.handOn(password)
}

// handOn sets PAM_AUTHTOK for the modules after this one.
func (f *flow) handOn(password string) int {
	if r := f.h.SetAuthtok(password); r != pamSuccess {
		f.logf(logErr, "user %q: cannot hand the password on (PAM error %d)", f.user, r)
		return pamAuthinfoUnavail
	}
	return pamSuccess
}
