package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"
)

// Layouts for times shown to people, always in the local time zone ($TZ).
const (
	layoutMinute = "2006-01-02 15:04"
	layoutSecond = "2006-01-02 15:04:05 MST"
)

// none is what a table or a status line shows for a missing value.
const none = "-"

// plural reports "1 day", "3 days".
func plural(n int64, unit string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", unit)
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// humanSpan reports a positive duration in the largest unit that keeps it
// readable, rounded to the nearest whole unit: "45 seconds", "3 minutes",
// "2 hours", "3 days". The unit is chosen after rounding, so 59.6 minutes
// reads "1 hour", not "60 minutes".
func humanSpan(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	round := func(unit time.Duration) int64 {
		return int64(math.Round(float64(d) / float64(unit)))
	}
	if s := round(time.Second); s < 60 {
		return plural(s, "second")
	}
	if m := round(time.Minute); m < 60 {
		return plural(m, "minute")
	}
	if h := round(time.Hour); h < 24 {
		return plural(h, "hour")
	}
	return plural(round(24*time.Hour), "day")
}

// relative reports t against now: "in 3 days", "2 hours ago", "now".
func relative(t, now time.Time) string {
	d := t.Sub(now)
	if d.Abs() < time.Second {
		return "now"
	}
	if d > 0 {
		return "in " + humanSpan(d)
	}
	return humanSpan(d) + " ago"
}

// deadlineText reports a deadline as "2026-12-01 14:00 (in 3 days)" or
// "2026-12-01 14:00 (passed 2 hours ago)", or "-" for none.
func deadlineText(t *time.Time, now time.Time, loc *time.Location) string {
	if t == nil {
		return none
	}
	when := t.In(loc).Format(layoutMinute)
	if !t.After(now) {
		return fmt.Sprintf("%s (passed %s)", when, relative(*t, now))
	}
	return fmt.Sprintf("%s (%s)", when, relative(*t, now))
}

// whenText reports t as "2026-11-28 11:00" in loc, or "-".
func whenText(t *time.Time, loc *time.Location) string {
	if t == nil || t.IsZero() {
		return none
	}
	return t.In(loc).Format(layoutMinute)
}

// whenRelText reports t as "2026-11-28 11:00 (3 hours ago)", or "-".
func whenRelText(t *time.Time, now time.Time, loc *time.Location) string {
	if t == nil || t.IsZero() {
		return none
	}
	return fmt.Sprintf("%s (%s)", t.In(loc).Format(layoutMinute), relative(*t, now))
}

// yesNo reports "yes" or "no".
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// rfc3339 reports t for --json output: RFC 3339 in UTC to the second, or
// nil (JSON null) for no time.
func rfc3339(t *time.Time) *string {
	if t == nil || t.IsZero() {
		return nil
	}
	s := t.UTC().Format(time.RFC3339)
	return &s
}

// nullable reports nil (JSON null) for an empty string.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// writeJSON writes v indented, with '&' and '<' left as they are so that
// otpauth URIs stay copyable.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// secondsText reports a number of seconds for people: "30 s", "90 s",
// "10 min", "12 min 30 s".
func secondsText(s int) string {
	if s < 0 {
		s = -s
	}
	if s < 120 {
		return fmt.Sprintf("%d s", s)
	}
	if s%60 == 0 {
		return fmt.Sprintf("%d min", s/60)
	}
	return fmt.Sprintf("%d min %d s", s/60, s%60)
}

// stepsText reports a signed step count: "+1 step", "-3 steps", "0 steps".
func stepsText(n int) string {
	sign := ""
	if n > 0 {
		sign = "+"
	}
	if n == 1 || n == -1 {
		return sign + fmt.Sprintf("%d step", n)
	}
	return sign + fmt.Sprintf("%d steps", n)
}

// driftText explains a clock drift of steps time steps of period seconds,
// positive meaning the phone's clock is ahead of the server's. whose is
// "your" or "the user's".
func driftText(steps, period int, whose string) string {
	if steps == 0 {
		return "none (0 steps)"
	}
	sec := steps * period
	dir := "ahead of"
	if steps < 0 {
		dir = "behind"
	}
	sign := "+"
	if sec < 0 {
		sign = "-"
	}
	return fmt.Sprintf("%s (%s%s): %s phone's clock seems %s %s the server's",
		stepsText(steps), sign, secondsText(sec), whose, secondsText(sec), dir)
}

// periodOf reports the TOTP period in seconds, 30 when the daemon sent none.
func periodOf(sec int) int {
	if sec <= 0 {
		return 30
	}
	return sec
}
