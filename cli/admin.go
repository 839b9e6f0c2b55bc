package main

import (
	"errors"
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/qrterm"
	"github.com/totpd/totpd/daemon/wire"
)

// userRowJSON is one element of `users --json`: exactly these keys.
type userRowJSON struct {
	User        string  `json:"user"`
	Enrolled    bool    `json:"enrolled"`
	Required    bool    `json:"required"`
	Deadline    *string `json:"deadline"`
	Locked      bool    `json:"locked"`
	LockedUntil *string `json:"locked_until"`
	Failures    int     `json:"failures"`
	LastSuccess *string `json:"last_success"`
}

// userEnrollJSON is `user enroll --json`: exactly these keys.
type userEnrollJSON struct {
	User          string   `json:"user"`
	Secret        string   `json:"secret"`
	URI           string   `json:"uri"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// checkJSON is `user check --json`.
type checkJSON struct {
	User         string `json:"user"`
	Valid        bool   `json:"valid"`
	DriftSteps   *int   `json:"drift_steps"`
	DriftSeconds *int   `json:"drift_seconds"`
	Reason       string `json:"reason,omitempty"`
}

func runUsers(c *cmdCtx, _ []string) error {
	resp, err := c.call(wire.Request{Op: wire.OpUsers})
	if err != nil {
		return err
	}
	users := append([]wire.Status(nil), resp.Users...)
	sort.SliceStable(users, func(i, j int) bool { return users[i].User < users[j].User })
	if c.o.json {
		rows := make([]userRowJSON, 0, len(users))
		for _, u := range users {
			rows = append(rows, userRowJSON{
				User:        u.User,
				Enrolled:    u.Enrolled,
				Required:    u.Required,
				Deadline:    rfc3339(u.Deadline),
				Locked:      u.Locked,
				LockedUntil: rfc3339(u.LockedUntil),
				Failures:    u.Failures,
				LastSuccess: rfc3339(u.LastSuccess),
			})
		}
		return writeJSON(c.out(), rows)
	}
	now, loc := c.now(), c.e.loc
	tw := tabwriter.NewWriter(c.out(), 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tENROLLED\tREQUIRED\tDEADLINE\tLOCKED\tFAILURES\tLAST LOGIN")
	for i := range users {
		u := &users[i]
		required := yesNo(u.Required)
		if u.Override != "" {
			required += " (" + u.Override + ")"
		}
		deadline := none
		if !u.Enrolled {
			deadline = deadlineText(u.Deadline, now, loc)
		}
		locked := "no"
		if u.Locked {
			locked = "yes"
			if u.LockedUntil != nil {
				locked = "until " + whenText(u.LockedUntil, loc)
			}
		}
		enrolled := yesNo(u.Enrolled)
		if u.StateError != "" {
			enrolled = "ERROR"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n",
			u.User, enrolled, required, deadline, locked, u.Failures, whenText(u.LastSuccess, loc))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	printMessages(c.out(), c.e.stderr, resp.Messages)
	return nil
}

func runUserEnroll(c *cmdCtx, args []string) error {
	resp, err := c.call(wire.Request{Op: wire.OpUserEnroll, User: args[0]})
	if err != nil {
		return err
	}
	enr := resp.Enrollment
	if enr == nil || enr.Secret == "" || enr.URI == "" {
		return errors.New("the daemon sent no enrollment")
	}
	user := enr.User
	if user == "" {
		user = args[0]
	}
	// The enrollment is made: if the PNG cannot be written, still show
	// the enrollment rather than lose it, and exit 1 afterwards.
	var pngErr error
	if c.o.qrPNG != "" {
		if pngErr = qrterm.WritePNG(c.o.qrPNG, enr.URI); pngErr != nil {
			fmt.Fprintf(c.e.stderr, "totpctl: %v\n", pngErr)
		}
	}
	failed := func() error {
		if pngErr != nil {
			return silentError{}
		}
		return nil
	}
	if c.o.json {
		if err := writeJSON(c.out(), userEnrollJSON{
			User: user, Secret: enr.Secret, URI: enr.URI, RecoveryCodes: nonNil(enr.RecoveryCodes),
		}); err != nil {
			return err
		}
		return failed()
	}
	w := c.out()
	printMessages(w, c.e.stderr, resp.Messages)
	fmt.Fprintf(w, "%s is enrolled. Hand the following to %s and to nobody else.\n\n", user, user)
	if err := printEnrollment(w, enr, c.o.qr); err != nil {
		return err
	}
	if c.o.qrPNG != "" && pngErr == nil {
		fmt.Fprintf(w, "  PNG:     %s (mode 0600; delete it once handed over)\n", c.o.qrPNG)
	}
	if len(enr.RecoveryCodes) > 0 {
		fmt.Fprintln(w)
		printRecoveryCodes(w, enr.RecoveryCodes)
	}
	return failed()
}

// runUserAction makes a command that sends op for one user and prints the
// daemon's messages, or done (with the user's name) when there are none.
func runUserAction(op wire.Op, done string) func(*cmdCtx, []string) error {
	return func(c *cmdCtx, args []string) error {
		return userAction(c, wire.Request{Op: op, User: args[0]}, fmt.Sprintf(done, args[0]))
	}
}

func userAction(c *cmdCtx, req wire.Request, done string) error {
	resp, err := c.call(req)
	if err != nil {
		return err
	}
	if c.o.json {
		return writeJSON(c.out(), okJSON{OK: true})
	}
	if !printMessages(c.out(), c.e.stderr, resp.Messages) {
		fmt.Fprintln(c.out(), done)
	}
	return nil
}

// forgetJSON is `user forget --json`.
type forgetJSON struct {
	User      string `json:"user"`
	Forgotten int    `json:"forgotten"`
}

// runUserForget drops a user's remembered logins.
func runUserForget(c *cmdCtx, args []string) error {
	resp, err := c.call(wire.Request{Op: wire.OpUserForget, User: args[0]})
	if err != nil {
		return err
	}
	n := 0
	if resp.Forgotten != nil {
		n = *resp.Forgotten
	}
	if c.o.json {
		return writeJSON(c.out(), forgetJSON{User: args[0], Forgotten: n})
	}
	if !printMessages(c.out(), c.e.stderr, resp.Messages) {
		fmt.Fprintf(c.out(), "%s's remembered logins are forgotten (%d).\n", args[0], n)
	}
	return nil
}

// runUserRequire checks --grace with the configuration's duration
// parser, the one the daemon applies to it and to grace_period, so that
// totpctl refuses exactly what the daemon would ("0" and "1.5h" pass).
func runUserRequire(c *cmdCtx, args []string) error {
	g := c.o.grace
	if g != "" {
		if _, err := config.ParseDuration(g); err != nil {
			return &usageError{msg: fmt.Sprintf("--grace %q: %v", g, err), hint: c.cmd.path}
		}
	}
	done := fmt.Sprintf("%s is now required to use TOTP.", args[0])
	if g != "" {
		done = fmt.Sprintf("%s is now required to use TOTP, with %s to enroll.", args[0], g)
	}
	return userAction(c, wire.Request{Op: wire.OpUserRequire, User: args[0], Grace: g}, done)
}

func runUserCheck(c *cmdCtx, args []string) error {
	var code string
	if len(args) > 1 {
		warnCodeInArgs(c, "totpctl user check NAME")
		code = normalizeCode(args[1])
	} else {
		line, err := readCodeInput(c, "Code to check: ", "the code to check", "totpctl user check NAME")
		if err != nil {
			return err
		}
		code = normalizeCode(line)
	}
	resp, err := c.call(wire.Request{Op: wire.OpUserCheck, User: args[0], Code: code})
	if err != nil {
		return err
	}
	ck := resp.Check
	if ck == nil {
		return errors.New("the daemon sent no check result")
	}
	user := ck.User
	if user == "" {
		user = args[0]
	}
	period := periodOf(ck.PeriodSec)
	if c.o.json {
		out := checkJSON{User: user, Valid: ck.Valid, DriftSteps: ck.DriftSteps, Reason: ck.Reason}
		if ck.DriftSteps != nil {
			sec := *ck.DriftSteps * period
			out.DriftSeconds = &sec
		}
		if err := writeJSON(c.out(), out); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(c.out(), checkText(ck, period))
		printMessages(c.out(), c.e.stderr, resp.Messages)
	}
	if !ck.Valid {
		return silentError{}
	}
	return nil
}

// checkText explains a check result to the admin helping a user.
func checkText(ck *wire.Check, period int) string {
	reason := ""
	if ck.Reason != "" {
		reason = " (" + ck.Reason + ")"
	}
	switch {
	case ck.Valid:
		return "valid now" // the daemon's reason says the same
	case ck.DriftSteps == nil:
		return "not valid now; matches no time within ±10 minutes: wrong key or wrong account in the app" + reason
	case *ck.DriftSteps == 0:
		return "not valid now, although it is the code for the current time" + reason
	default:
		n := *ck.DriftSteps
		dir, fast := "ahead of", "fast"
		if n < 0 {
			dir, fast = "behind", "slow"
		}
		steps := plural(int64(abs(n)), "step")
		return fmt.Sprintf("not valid now; it matches a time %s %s the server clock (%s): the phone's clock is %s%s",
			secondsText(n*period), dir, steps, fast, reason)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
