package engine

import (
	"fmt"
	"github.com/totpd/totpd/daemon/config"
	"time"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// Users lists every user totpd has a record of. A user whose record
// cannot be read is listed with StateError set rather than left out.
func (e *Engine) Users(info Info) *wire.Response {
	names, err := e.store.Users()
	if err != nil {
		return e.refuse(info, "", wire.ErrCodeInternal, "cannot list the state directory: "+err.Error(), "list failed")
	}
	out := make([]wire.Status, 0, len(names))
	for _, n := range names {
		out = append(out, e.showOne(n, info))
	}
	e.log(info, "", "ok", fmt.Sprintf("listed %d users", len(out)))
	return &wire.Response{Version: wire.Version, Users: out}
}

// showOne reports one user's status without recording or auditing
// anything; the listing as a whole is audited once.
func (e *Engine) showOne(name string, info Info) wire.Status {
	tx, release, r := e.open(name, info)
	if r != nil {
		return wire.Status{User: name, ServerTime: e.now(), StateError: r.msg}
	}
	defer release()
	st, err := tx.status(false)
	if err != nil {
		return wire.Status{User: name, ServerTime: tx.now, StateError: err.Error()}
	}
	return *st
}

// Show reports one user for an admin.
func (e *Engine) Show(user string, info Info) *wire.Response {
	tx, release, refusal := e.begin(user, info)
	if refusal != nil {
		return refusal
	}
	defer release()
	st, err := tx.status(false)
	if err != nil {
		return tx.refuse(wire.ErrCodeInternal, err.Error(), "policy lookup failed")
	}
	return tx.ok("ok", "show", &wire.Response{Status: st})
}

// AdminDisable is the lost-phone path: the secret, recovery codes and
// lockout are cleared and the grace period starts again from now. It is
// also the way out when the record belongs to an earlier account of the
// same name (another uid): that state is dropped whole.
func (e *Engine) AdminDisable(user string, info Info) *wire.Response {
	return e.update(user, info, true, func(tx *userTx) *wire.Response {
		tx.clearSecret()
		tx.clearLockout()
		tx.rec.FirstRequired = tx.now
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "disabled by admin, grace restarted", nil)
	})
}

// Unlock clears the user's lockout and recorded clock drift (a phone
// whose clock was wrong and is right again starts from now).
func (e *Engine) Unlock(user string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		tx.clearLockout()
		tx.rec.DriftSteps = 0
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "unlocked by admin", nil)
	})
}

// Check says whether code is valid for user now and, if not, which
// nearby time it belongs to. It changes nothing: no step is used and no
// failure is counted.
func (e *Engine) Check(user, code string, info Info) *wire.Response {
	tx, release, refusal := e.begin(user, info)
	if refusal != nil {
		return refusal
	}
	defer release()
	if tx.rec.Secret == nil {
		return tx.refuse(wire.ErrCodeNotEnrolled, tx.acct.Name+" has no verification code set up", "not enrolled")
	}
	p := tx.params()
	c := &wire.Check{User: tx.acct.Name, PeriodSec: tx.rec.PeriodSec}
	_, err := p.Validate(tx.rec.Secret, code, tx.now, totp.ValidateOptions{
		Window: tx.cfg.TOTP.Window, Drift: tx.rec.DriftSteps, MaxDrift: MaxDriftSteps, LastStep: tx.rec.LastStep,
	})
	switch {
	case err == nil:
		c.Valid = true
		c.Reason = "valid now"
	default:
		c.Reason = err.Error()
	}
	if d, derr := p.Diagnose(tx.rec.Secret, code, tx.now, totp.DiagnoseSpan); derr == nil && d.Found {
		c.DriftSteps = &d.Drift
	}
	return tx.ok("ok", "check: "+map[bool]string{true: "valid", false: "not valid"}[c.Valid], &wire.Response{Check: c})
}

// Require makes the policy require user whatever the groups say, with
// its own grace period (empty: grace_period) starting now.
func (e *Engine) Require(user, grace string, info Info) *wire.Response {
	var g time.Duration
	set := grace != ""
	if set {
		d, err := config.ParseDuration(grace)
		if err != nil {
			return e.refuse(info, user, wire.ErrCodeBadRequest, "--grace "+grace+": "+err.Error(), "bad grace")
		}
		g = d
	}
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		tx.rec.Override = OverrideRequire
		tx.rec.OverrideGraceSec, tx.rec.OverrideGraceSet = int64(g/time.Second), set
		if tx.rec.Secret == nil {
			tx.rec.FirstRequired = tx.now
		}
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "required by admin", nil)
	})
}

// Exempt makes the policy never require user.
func (e *Engine) Exempt(user string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		tx.rec.Override = OverrideExempt
		tx.rec.OverrideGraceSec, tx.rec.OverrideGraceSet = 0, false
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "exempted by admin", nil)
	})
}
