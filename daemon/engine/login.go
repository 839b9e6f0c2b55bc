package engine

import (
	"fmt"

	"github.com/totpd/totpd/daemon/wire"
)

// LoginQuery answers the PAM module's first question: what applies to
// user at this login. Enrolled users are always asked for a code, even
// when the policy does not require them: they opted in.
func (e *Engine) LoginQuery(user string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		tx.expireLock()
		if tx.rec.Secret != nil {
			if locked, _ := tx.locked(); locked {
				return tx.ok("denied", "locked", &wire.Response{Action: wire.ActionDeny, Locked: true,
					Messages: []wire.Message{{Error: true, Text: tx.lockedMessage()}}})
			}
			if until, ok := tx.rememberedUntil(); ok {
				return tx.rememberedAnswer(until)
			}
			return tx.ok("prompt", "enrolled", &wire.Response{Action: wire.ActionPrompt, Digits: tx.rec.Digits})
		}
		req, err := tx.required()
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "totpd cannot check the policy's groups: "+err.Error(), "policy lookup failed")
		}
		if !req {
			return tx.ok("ignored", "not enrolled, not required", &wire.Response{Action: wire.ActionIgnore})
		}
		dl, changed := tx.deadline(req)
		if changed {
			if err := tx.save(); err != nil {
				return tx.saveFailed()
			}
		}
		if tx.now.Before(dl) {
			msg := fmt.Sprintf("A verification code will be required for %s from %s. Set it up now: run `totpctl enroll` after you log in.", tx.acct.Name, formatDeadline(dl))
			return tx.ok("allowed", "grace period", &wire.Response{Action: wire.ActionAllow,
				Messages: []wire.Message{{Text: msg}}})
		}
		if tx.cfg.Policy.EnrollAtLogin {
			return tx.ok("enroll", "past deadline, enroll at login", &wire.Response{Action: wire.ActionEnroll,
				Messages: []wire.Message{{Text: fmt.Sprintf("A verification code is required for %s and none is set up yet. Set up your authenticator app now.", tx.acct.Name)}}})
		}
		msg := fmt.Sprintf("A verification code is required for %s since %s and none is set up. Ask an administrator to run `totpctl user enroll %s` (or `totpctl user require %s --grace 1d` for more time).", tx.acct.Name, formatDeadline(dl), tx.acct.Name, tx.acct.Name)
		return tx.ok("denied", "past deadline, not enrolled", &wire.Response{Action: wire.ActionDeny,
			Messages: []wire.Message{{Error: true, Text: msg}}})
	})
}

// LoginVerify checks a code typed at a login. The outcome, success or
// failure, is on disk before the answer is sent.
func (e *Engine) LoginVerify(user, code string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		return tx.verify(code, "login")
	})
}

// verify is the one path by which a code typed by a person is accepted:
// lockout, check, failure count and durable record. what names the use in the audit log.
func (tx *userTx) verify(code, what string) *wire.Response {
	tx.expireLock()
	if tx.rec.Secret == nil {
		return tx.refuse(wire.ErrCodeNotEnrolled, fmt.Sprintf("%s has no verification code set up: run `totpctl enroll`", tx.acct.Name), "not enrolled")
	}
	if locked, _ := tx.locked(); locked {
		r := tx.refuse(wire.ErrCodeLocked, tx.lockedMessage(), "locked")
		r.Locked = true
		return r
	}
	switch out := tx.checkCode(code); out {
	case outTOTP, outRecovery:
		tx.succeed()
		if what == "login" {
			tx.remember()
		}
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		reason := what + " code accepted"
		var msgs []wire.Message
		if out == outRecovery {
			reason = what + " recovery code accepted"
			msgs = append(msgs, wire.Message{Text: fmt.Sprintf("Recovery code used; %d left. Run `totpctl recovery-codes` for a fresh set.", len(tx.rec.RecoveryHashes))})
		}
		return tx.ok("ok", reason, &wire.Response{Messages: msgs})
	case outReplay:
		// A code of a step already used is refused (RFC 6238 §5.2) but
		// not counted: it was a right code once, so it tells nothing of a
		// guesser, and a phone whose clock was set back after a drift
		// would otherwise lock itself out while it waits for a fresh step.
		return tx.refuse(wire.ErrCodeDenied, "That code was already used: wait for the next one.", "code reused")
	default:
		nowLocked := tx.fail()
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		reason, msg := "wrong code", "Wrong verification code."
		switch out {
		case outFormat:
			reason, msg = "malformed code", fmt.Sprintf("That is not a verification code: type the %d digits your authenticator app shows, or a recovery code.", tx.rec.Digits)
		}
		if nowLocked {
			r := tx.refuse(wire.ErrCodeLocked, msg+" "+tx.lockedMessage(), reason+", now locked")
			r.Locked = true
			return r
		}
		return tx.refuse(wire.ErrCodeDenied, msg, reason)
	}
}
