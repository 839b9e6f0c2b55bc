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
	s, unlock, refusal := e.begin(user, info)
	if refusal != nil {
		return refusal
	}
	defer unlock()
	st, err := s.status(true)
	if err != nil {
		return s.refuse(wire.ErrCodeInternal, err.Error(), "policy lookup failed")
	}
	return s.ok("ok", "status", &wire.Response{Status: st})
}

// status reports the session's user as a wire.Status; record says
// whether a first-seen-required time may be written now.
func (s *session) status(record bool) (*wire.Status, error) {
	s.expireLock()
	req, err := s.required()
	if err != nil {
		return nil, fmt.Errorf("totpd cannot check the policy's groups: %w", err)
	}
	st := &wire.Status{
		User:          s.acct.Name,
		Enrolled:      s.rec.Secret != nil,
		Required:      req,
		Override:      s.rec.Override,
		Failures:      s.rec.Failures,
		RecoveryCodes: len(s.rec.RecoveryHashes),
		Pending:       s.rec.Pending != nil,
		ServerTime:    s.now,
		DriftSteps:    s.rec.DriftSteps,
		PeriodSec:     s.rec.PeriodSec,
		LastSuccess:   timePtr(s.rec.LastSuccess),
	}
	if st.PeriodSec == 0 {
		st.PeriodSec = int(s.cfg.TOTP.Period.D() / time.Second)
	}
	if req && !st.Enrolled {
		if record || !s.rec.FirstRequired.IsZero() {
			dl, changed := s.deadline(req)
			if changed {
				if err := s.save(); err != nil {
					return nil, fmt.Errorf("cannot record the deadline: %w", err)
				}
			}
			st.Deadline = &dl
		}
	}
	st.Locked, _ = s.locked()
	if st.Locked && !s.rec.LockedForever {
		st.LockedUntil = timePtr(s.rec.LockedUntil)
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
	s, unlock, refusal := e.begin(user, info)
	if refusal != nil {
		return refusal
	}
	defer unlock()
	req, err := s.required()
	if err != nil {
		return s.refuse(wire.ErrCodeInternal, "totpd cannot check the policy's groups: "+err.Error(), "policy lookup failed")
	}
	if req {
		return s.refuse(wire.ErrCodeRequired, "The policy requires a verification code for you, so you cannot turn it off. For a new phone ask an administrator: totpctl user disable "+s.acct.Name, "required")
	}
	if r := s.verify(code, "disable"); r.Error != nil {
		return r
	}
	s.clearSecret()
	if err := s.save(); err != nil {
		return s.saveFailed()
	}
	return s.ok("ok", "disabled by user", nil)
}

// clearSecret forgets the secret, recovery codes and anything pending.
func (s *session) clearSecret() {
	s.rec.Secret, s.rec.Algorithm, s.rec.Digits, s.rec.PeriodSec = nil, "", 0, 0
	s.rec.RecoveryHashes = nil
	s.rec.Pending = nil
	s.rec.LastStep = -1
	s.rec.DriftSteps = 0
	s.rec.EnrolledAt = time.Time{}
}

// RecoveryCodes replaces user's recovery codes after a valid code.
func (e *Engine) RecoveryCodes(user, code string, info Info) *wire.Response {
	s, unlock, refusal := e.begin(user, info)
	if refusal != nil {
		return refusal
	}
	defer unlock()
	if r := s.verify(code, "recovery-codes"); r.Error != nil {
		return r
	}
	rc, err := s.newRecoveryCodes(s.cfg.Recovery.Codes)
	if err != nil {
		return s.refuse(wire.ErrCodeInternal, "cannot make recovery codes: "+err.Error(), "random failed")
	}
	if err := s.save(); err != nil {
		return s.saveFailed()
	}
	return s.ok("ok", "recovery codes regenerated", &wire.Response{Enrollment: &wire.Enrollment{User: s.acct.Name, RecoveryCodes: rc}})
}
