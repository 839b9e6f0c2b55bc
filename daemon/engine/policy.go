package engine

import (
	"fmt"
	"slices"
	"time"
)

// Overrides an admin sets per user with `totpctl user require|exempt`.
const (
	OverrideRequire = "require"
	OverrideExempt  = "exempt"
)

// required reports whether the policy requires a second factor of the
// transaction's user. This is the one place the policy is read:
// a per-user override wins; then exempt users and groups; then
// require = none | all | groups.
func (tx *userTx) required() (bool, error) {
	switch tx.rec.Override {
	case OverrideExempt:
		return false, nil
	case OverrideRequire:
		return true, nil
	}
	p := tx.cfg.Policy
	if slices.Contains(p.ExemptUsers, tx.acct.Name) {
		return false, nil
	}
	in, err := tx.inAny(p.ExemptGroups)
	if err != nil || in {
		return false, err
	}
	switch p.Require {
	case "all":
		return true, nil
	case "groups":
		return tx.inAny(p.Groups)
	}
	return false, nil
}

func (tx *userTx) inAny(groups []string) (bool, error) {
	for _, g := range groups {
		in, err := tx.e.accounts.InGroup(tx.acct, g)
		if err != nil {
			return false, fmt.Errorf("checking group %q: %w", g, err)
		}
		if in {
			return true, nil
		}
	}
	return false, nil
}

// grace reports the grace period that applies to the user.
func (tx *userTx) grace() time.Duration {
	if tx.rec.Override == OverrideRequire && tx.rec.OverrideGraceSet {
		return time.Duration(tx.rec.OverrideGraceSec) * time.Second
	}
	return tx.cfg.Policy.GracePeriod.D()
}

// deadline reports when an unenrolled, required user must have enrolled,
// recording "first seen required" when it is now. It reports whether the
// record changed and needs saving.
func (tx *userTx) deadline(required bool) (time.Time, bool) {
	if !required {
		return time.Time{}, false
	}
	changed := false
	if tx.rec.FirstRequired.IsZero() {
		tx.rec.FirstRequired = tx.now
		changed = true
	}
	return tx.rec.FirstRequired.Add(tx.grace()), changed
}

// formatDeadline renders a deadline for a message to a person.
func formatDeadline(t time.Time) string {
	return t.Local().Format("Mon 2 Jan 2006 15:04 MST")
}
