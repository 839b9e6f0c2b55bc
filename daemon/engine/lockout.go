package engine

import (
	"fmt"
	"time"

	"github.com/totpd/totpd/daemon/store"
)

// The lockout rule, in one place: max_failures consecutive failures lock
// the user for lockout.duration ("0s": until an admin unlocks). Every
// service and session shares the count because it lives in the user's
// record. A success or an admin unlock resets it; a timed lock that has
// run out starts the count again from zero. What counts: wrong and
// malformed codes; not a code of a step already used (login.go says why).

// locked reports whether the user is locked now and until when (zero
// time with true means until an admin unlocks).
func (tx *userTx) locked() (bool, time.Time) {
	if tx.rec.LockedForever {
		return true, time.Time{}
	}
	if !tx.rec.LockedUntil.IsZero() && tx.now.Before(tx.rec.LockedUntil) {
		return true, tx.rec.LockedUntil
	}
	return false, time.Time{}
}

// expireLock clears a timed lock that has run out, so the count restarts.
func (tx *userTx) expireLock() {
	if !tx.rec.LockedForever && !tx.rec.LockedUntil.IsZero() && !tx.now.Before(tx.rec.LockedUntil) {
		tx.rec.LockedUntil = time.Time{}
		tx.rec.Failures = 0
	}
}

// fail counts one failure and locks the user when it reaches max_failures.
// It reports whether this failure locked the user.
func (tx *userTx) fail() bool {
	tx.expireLock()
	tx.rec.Failures++
	return tx.lockIfDue()
}

// lockIfDue locks the user if the failure count has reached
// max_failures, and reports whether it did.
func (tx *userTx) lockIfDue() bool {
	if tx.rec.Failures < tx.cfg.Lockout.MaxFailures {
		return false
	}
	if d := tx.cfg.Lockout.Duration.D(); d == 0 {
		tx.rec.LockedForever = true
	} else {
		tx.rec.LockedUntil = tx.now.Add(d)
	}
	tx.dropRemembered() // a lockout ends every remembered login (remember.go)
	return true
}

// AddFailures applies the lockout rule to n failures counted outside a
// request (fleet mode's write-back adds those a host counted offline):
// as fail does for one, a timed lock that has run out first starts the
// count afresh, then the failures are added and the user locked if the
// count reaches max_failures and rec is not locked already.
func (e *Engine) AddFailures(rec *store.Record, n int) {
	if n <= 0 {
		return
	}
	tx := &userTx{e: e, cfg: e.Config(), now: e.now(), rec: *rec}
	tx.expireLock()
	tx.rec.Failures += n
	if locked, _ := tx.locked(); !locked {
		tx.lockIfDue()
	}
	*rec = tx.rec
}

// succeed resets the failure count after an accepted code.
func (tx *userTx) succeed() {
	tx.rec.Failures = 0
	tx.rec.LockedUntil = time.Time{}
	tx.rec.LockedForever = false
	tx.rec.LastSuccess = tx.now
}

// clearLockout is the admin's reset: the failure count and any lock go.
func (tx *userTx) clearLockout() {
	tx.rec.Failures = 0
	tx.rec.LockedUntil = time.Time{}
	tx.rec.LockedForever = false
}

// lockedMessage tells a locked-out person what happened and what to do.
func (tx *userTx) lockedMessage() string {
	_, until := tx.locked()
	if until.IsZero() {
		return fmt.Sprintf("Too many wrong codes: the account %s is locked until an administrator runs: totpctl user unlock %s", tx.acct.Name, tx.acct.Name)
	}
	return fmt.Sprintf("Too many wrong codes: the account %s is locked until %s (an administrator can run: totpctl user unlock %s)", tx.acct.Name, formatDeadline(until), tx.acct.Name)
}
