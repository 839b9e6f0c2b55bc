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
// session's user. This is the one place the policy is read:
// a per-user override wins; then exempt users and groups; then
// require = none | all | groups.
func (s *session) required() (bool, error) {
	switch s.rec.Override {
	case OverrideExempt:
		return false, nil
	case OverrideRequire:
		return true, nil
	}
	p := s.cfg.Policy
	if slices.Contains(p.ExemptUsers, s.acct.Name) {
		return false, nil
	}
	in, err := s.inAny(p.ExemptGroups)
	if err != nil || in {
		return false, err
	}
	switch p.Require {
	case "all":
		return true, nil
	case "groups":
		return s.inAny(p.Groups)
	}
	return false, nil
}

func (s *session) inAny(groups []string) (bool, error) {
	for _, g := range groups {
		in, err := s.e.accounts.InGroup(s.acct, g)
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
func (s *session) grace() time.Duration {
	if s.rec.Override == OverrideRequire && s.rec.OverrideGraceSet {
		return time.Duration(s.rec.OverrideGraceSec) * time.Second
	}
	return s.cfg.Policy.GracePeriod.D()
}

// deadline reports when an unenrolled, required user must have enrolled,
// recording "first seen required" when it is now. It reports whether the
// record changed and needs saving.
func (s *session) deadline(required bool) (time.Time, bool) {
	if !required {
		return time.Time{}, false
	}
	changed := false
	if s.rec.FirstRequired.IsZero() {
		s.rec.FirstRequired = s.now
		changed = true
	}
	return s.rec.FirstRequired.Add(s.grace()), changed
}

// formatDeadline renders a deadline for a message to a person.
func formatDeadline(t time.Time) string {
	return t.Local().Format("Mon 2 Jan 2006 15:04 MST")
}
