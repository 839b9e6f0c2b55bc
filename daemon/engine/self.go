package engine

import (
	"fmt"
	"time"

	"github.com/totpd/totpd/daemon/wire"
)

// Status reports what totpd knows and decides about user. It records
// "first seen required" like a login would, so the deadline it shows is
// the one that will apply.
func (e *Engine) Status(user string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		st, err := tx.status(true)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, err.Error(), "policy lookup failed")
		}
		return tx.ok("ok", "status", &wire.Response{Status: st})
	})
}

// status reports the transaction's user as a wire.Status; record says
// whether a first-seen-required time may be written now.
func (tx *userTx) status(record bool) (*wire.Status, error) {
	tx.expireLock()
	req, err := tx.required()
	if err != nil {
		return nil, fmt.Errorf("totpd cannot check the policy's groups: %w", err)
	}
	st := &wire.Status{
		User:          tx.acct.Name,
		Enrolled:      tx.rec.Secret != nil,
		Required:      req,
		Override:      tx.rec.Override,
		Failures:      tx.rec.Failures,
		RecoveryCodes: len(tx.rec.RecoveryHashes),
		Pending:       tx.rec.Pending != nil,
		ServerTime:    tx.now,
		DriftSteps:    tx.rec.DriftSteps,
		PeriodSec:     tx.rec.PeriodSec,
		LastSuccess:   timePtr(tx.rec.LastSuccess),
	}
	if st.PeriodSec == 0 {
		st.PeriodSec = int(tx.cfg.TOTP.Period.D() / time.Second)
	}
	if req && !st.Enrolled {
		if record || !tx.rec.FirstRequired.IsZero() {
			dl, changed := tx.deadline(req)
			if changed {
				if err := tx.save(); err != nil {
					return nil, fmt.Errorf("cannot record the deadline: %w", err)
				}
			}
			st.Deadline = &dl
		}
	}
	st.Locked, _ = tx.locked()
	if st.Locked && !tx.rec.LockedForever {
		st.LockedUntil = timePtr(tx.rec.LockedUntil)
	}
	return st, nil
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Disable removes user's own secret; it needs a valid code or recovery
// code, and is refused while the policy requires the user.
func (e *Engine) Disable(user, code string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		req, err := tx.required()
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "totpd cannot check the policy's groups: "+err.Error(), "policy lookup failed")
		}
		if req {
			return tx.refuse(wire.ErrCodeRequired, "The policy requires a verification code for you, so you cannot turn it off. For a new phone ask an administrator: totpctl user disable "+tx.acct.Name, "required")
		}
		if r := tx.verify(code, "disable"); r.Error != nil {
			return r
		}
		tx.clearSecret()
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "disabled by user", nil)
	})
}

// clearSecret forgets the secret, recovery codes and anything pending.
func (tx *userTx) clearSecret() {
	tx.rec.Secret, tx.rec.Algorithm, tx.rec.Digits, tx.rec.PeriodSec = nil, "", 0, 0
	tx.rec.RecoveryHashes = nil
	tx.rec.Pending = nil
	tx.rec.LastStep = -1
	tx.rec.DriftSteps = 0
	tx.rec.EnrolledAt = time.Time{}
	tx.dropRemembered()
}

// RecoveryCodes replaces user's recovery codes after a valid code.
func (e *Engine) RecoveryCodes(user, code string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		if r := tx.verify(code, "recovery-codes"); r.Error != nil {
			return r
		}
		rc, err := tx.newRecoveryCodes(tx.cfg.Recovery.Codes)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "cannot make recovery codes: "+err.Error(), "random failed")
		}
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "recovery codes regenerated", &wire.Response{Enrollment: &wire.Enrollment{User: tx.acct.Name, RecoveryCodes: rc}})
	})
}
