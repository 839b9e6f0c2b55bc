package main

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/totpd/totpd/daemon/wire"
)

// statusJSON is `status --json` and `user show --json`.
type statusJSON struct {
	User              string  `json:"user"`
	Enrolled          bool    `json:"enrolled"`
	Required          bool    `json:"required"`
	Override          *string `json:"override"`
	Deadline          *string `json:"deadline"`
	Locked            bool    `json:"locked"`
	LockedUntil       *string `json:"locked_until"`
	Failures          int     `json:"failures"`
	LastSuccess       *string `json:"last_success"`
	RecoveryCodesLeft int     `json:"recovery_codes_left"`
	PendingEnrollment bool    `json:"pending_enrollment"`
	ServerTime        *string `json:"server_time"`
	DriftSteps        int     `json:"drift_steps"`
	DriftSeconds      int     `json:"drift_seconds"`
	PeriodSeconds     int     `json:"period_seconds"`
	StateError        *string `json:"state_error"`
}

func toStatusJSON(s *wire.Status) statusJSON {
	period := periodOf(s.PeriodSec)
	st := s.ServerTime
	return statusJSON{
		User:              s.User,
		Enrolled:          s.Enrolled,
		Required:          s.Required,
		Override:          nullable(s.Override),
		Deadline:          rfc3339(s.Deadline),
		Locked:            s.Locked,
		LockedUntil:       rfc3339(s.LockedUntil),
		Failures:          s.Failures,
		LastSuccess:       rfc3339(s.LastSuccess),
		RecoveryCodesLeft: s.RecoveryCodes,
		PendingEnrollment: s.Pending,
		ServerTime:        rfc3339(&st),
		DriftSteps:        s.DriftSteps,
		DriftSeconds:      s.DriftSteps * period,
		PeriodSeconds:     period,
		StateError:        nullable(s.StateError),
	}
}

// lockedText reports "no", "yes, until 2026-11-28 14:15 (in 15 minutes)"
// or "yes, until an admin unlocks".
func lockedText(s *wire.Status, now time.Time, loc *time.Location) string {
	switch {
	case !s.Locked:
		return "no"
	case s.LockedUntil == nil:
		return "yes, until an admin unlocks ('totpctl user unlock " + s.User + "')"
	default:
		return "yes, until " + whenRelText(s.LockedUntil, now, loc)
	}
}

// printStatus writes one user's status for people. self selects "you"
// wording (totpctl status) over the admin's view (user show).
func printStatus(w io.Writer, s *wire.Status, self bool, now time.Time, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	whose := "the user's"
	if self {
		whose = "your"
	}

	line("User", s.User)
	enrolled := yesNo(s.Enrolled)
	if s.StateError != "" {
		enrolled = "unknown: the stored state cannot be read (see State error)"
	} else if !s.Enrolled && s.Pending {
		enrolled = "no (an enrollment is pending: finish it with 'totpctl enroll confirm')"
		if !self {
			enrolled = "no (an enrollment is pending)"
		}
	}
	line("Enrolled", enrolled)
	required := yesNo(s.Required)
	switch s.Override {
	case "require":
		required += " (per-user override: required)"
	case "exempt":
		required += " (per-user override: exempt)"
	}
	line("Required", required)
	if s.Deadline != nil && !s.Enrolled {
		dl := deadlineText(s.Deadline, now, loc)
		if self && s.Required {
			if s.Deadline.After(now) {
				dl += ": run 'totpctl enroll' before then"
			} else {
				dl += ": logins need a code now, run 'totpctl enroll'"
			}
		}
		line("Deadline", dl)
	} else {
		line("Deadline", none)
	}
	line("Locked", lockedText(s, now, loc))
	line("Failed attempts", fmt.Sprint(s.Failures))
	if s.Enrolled {
		rc := plural(int64(s.RecoveryCodes), "code") + " left"
		if s.RecoveryCodes == 0 {
			rc = "none left"
			if self {
				rc += ": make new ones with 'totpctl recovery-codes'"
			}
		}
		line("Recovery codes", rc)
	} else {
		line("Recovery codes", none)
	}
	last := "never"
	if s.LastSuccess != nil && !s.LastSuccess.IsZero() {
		last = whenRelText(s.LastSuccess, now, loc)
	}
	line("Last login", last)
	if !s.ServerTime.IsZero() {
		line("Server time", s.ServerTime.In(loc).Format(layoutSecond))
	}
	if s.Enrolled {
		line("Clock drift", driftText(s.DriftSteps, periodOf(s.PeriodSec), whose))
	} else {
		line("Clock drift", none)
	}
	if s.StateError != "" {
		line("State error", s.StateError)
	}
	return tw.Flush()
}

func runStatus(c *cmdCtx, _ []string) error {
	resp, err := c.call(wire.Request{Op: wire.OpStatus})
	if err != nil {
		return err
	}
	return showStatus(c, resp, true)
}

func runUserShow(c *cmdCtx, args []string) error {
	resp, err := c.call(wire.Request{Op: wire.OpUserShow, User: args[0]})
	if err != nil {
		return err
	}
	return showStatus(c, resp, false)
}

func showStatus(c *cmdCtx, resp *wire.Response, self bool) error {
	if resp.Status == nil {
		return errors.New("the daemon sent no status")
	}
	if c.o.json {
		return writeJSON(c.out(), toStatusJSON(resp.Status))
	}
	if err := printStatus(c.out(), resp.Status, self, c.now(), c.e.loc); err != nil {
		return err
	}
	printMessages(c.out(), c.e.stderr, resp.Messages)
	return nil
}
