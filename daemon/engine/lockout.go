package engine

import (
	"fmt"
	"time"
)

// The lockout rule, in one place: max_failures consecutive failures lock
// the user for lockout.duration ("0s": until an admin unlocks). Every
// service and session shares the count because it lives in the user's
// record. A success or an admin unlock resets it; a timed lock that has
// run out starts the count again from zero. What counts: wrong and
// malformed codes; not a code of a step already used (login.go says why).

// locked reports whether the user is locked now and until when (zero
// time with true means until an admin unlocks).
func (s *session) locked() (bool, time.Time) {
	if s.rec.LockedForever {
		return true, time.Time{}
	}
	if !s.rec.LockedUntil.IsZero() && s.now.Before(s.rec.LockedUntil) {
		return true, s.rec.LockedUntil
	}
	return false, time.Time{}
}

// expireLock clears a timed lock that has run out, so the count restarts.
func (s *session) expireLock() {
	if !s.rec.LockedForever && !s.rec.LockedUntil.IsZero() && !s.now.Before(s.rec.LockedUntil) {
		s.rec.LockedUntil = time.Time{}
		s.rec.Failures = 0
	}
}

// fail counts one failure and locks the user when it reaches max_failures.
// It reports whether this failure locked the user.
func (s *session) fail() bool {
	s.expireLock()
	s.rec.Failures++
	if s.rec.Failures < s.cfg.Lockout.MaxFailures {
		return false
	}
	if d := s.cfg.Lockout.Duration.D(); d == 0 {
		s.rec.LockedForever = true
	} else {
		s.rec.LockedUntil = s.now.Add(d)
	}
	return true
}

// succeed resets the failure count after an accepted code.
func (s *session) succeed() {
	s.rec.Failures = 0
	s.rec.LockedUntil = time.Time{}
	s.rec.LockedForever = false
	s.rec.LastSuccess = s.now
}

// unlock is the admin's reset.
func (s *session) unlock() {
	s.rec.Failures = 0
	s.rec.LockedUntil = time.Time{}
	s.rec.LockedForever = false
}

// lockedMessage tells a locked-out person what happened and what to do.
func (s *session) lockedMessage() string {
	_, until := s.locked()
	if until.IsZero() {
		return fmt.Sprintf("Too many wrong codes: the account %s is locked until an administrator runs: totpctl user unlock %s", s.acct.Name, s.acct.Name)
	}
	return fmt.Sprintf("Too many wrong codes: the account %s is locked until %s (an administrator can run: totpctl user unlock %s)", s.acct.Name, formatDeadline(until), s.acct.Name)
}
