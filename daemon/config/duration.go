package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a non-negative time span as written in the configuration file:
// a Go duration ("30s", "15m", "1h30m") that also accepts a "d" unit of 24
// hours ("7d", "1d12h"). Its zero value is "0s".
//
// Duration implements encoding.TextMarshaler and encoding.TextUnmarshaler, so
// it also works with flag.TextVar (for example for
// "totpctl user require NAME --grace 7d") and with encoding/json.
type Duration time.Duration

// day is the length of the "d" unit. Calendar days across a DST change are
// not a concern here: the daemon works with absolute instants.
const day = 24 * time.Hour

// errNegative is returned by ParseDuration for a duration with a minus sign.
var errNegative = errors.New("must not be negative")

// durationHint is appended to every syntax error about a duration.
const durationHint = `write a number with a unit s, m, h or d, e.g. "30s", "15m", "7d" or "1d12h"`

// ParseDuration parses s as a Duration: one or more decimal numbers, each with
// a unit among ns, us, µs, ms, s, m, h and d (24 hours), such as "30s", "7d",
// "1d12h" or "1.5h". A lone "0" is zero. Negative durations, empty strings,
// spaces, unknown units and values beyond about 292 years are errors; the
// error does not repeat s, so that callers can put it after the key or flag
// it belongs to.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration; " + durationHint)
	}
	if s[0] == '-' {
		return 0, errNegative
	}
	rest := strings.TrimPrefix(s, "+")
	if rest == "0" {
		return 0, nil
	}
	if rest == "" {
		return 0, errors.New("not a duration; " + durationHint)
	}
	isNum := func(c byte) bool { return c >= '0' && c <= '9' || c == '.' }
	var total time.Duration
	for rest != "" {
		i := 0
		for i < len(rest) && isNum(rest[i]) {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("expected a number before %q; %s", rest, durationHint)
		}
		j := i
		for j < len(rest) && !isNum(rest[j]) {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		rest = rest[j:]
		var part time.Duration
		var err error
		switch unit {
		case "":
			return 0, fmt.Errorf("missing unit after %s; %s", num, durationHint)
		case "d":
			part, err = time.ParseDuration(num + "h")
			if err == nil {
				if part > math.MaxInt64/24 {
					return 0, errors.New("too large")
				}
				part *= 24
			}
		case "ns", "us", "µs", "μs", "ms", "s", "m", "h":
			part, err = time.ParseDuration(num + unit)
		default:
			return 0, fmt.Errorf("unknown unit %q; %s", unit, durationHint)
		}
		if err != nil {
			if !isDecimal(num) {
				return 0, fmt.Errorf("%q is not a number; %s", num, durationHint)
			}
			return 0, errors.New("too large")
		}
		if total > math.MaxInt64-part {
			return 0, errors.New("too large")
		}
		total += part
	}
	return total, nil
}

// isDecimal reports whether s is digits with at most one '.' among them.
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			dots++
		} else {
			digits++
		}
	}
	return digits > 0 && dots <= 1
}

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d the way the configuration file writes it, with whole days
// as "d" and no zero units: "0s", "30s", "15m", "7d", "1d12h", "1h30m".
// ParseDuration(d.String()) gives d back.
func (d Duration) String() string {
	v := time.Duration(d)
	switch {
	case v == 0:
		return "0s"
	case v == math.MinInt64:
		return v.String()
	case v < 0:
		return "-" + Duration(-v).String()
	}
	var b strings.Builder
	if days := v / day; days > 0 {
		b.WriteString(strconv.FormatInt(int64(days), 10) + "d")
		v %= day
	}
	if v == 0 {
		return b.String()
	}
	if v%time.Second != 0 {
		b.WriteString(v.String())
		return b.String()
	}
	for _, u := range []struct {
		size time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := v / u.size; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			v %= u.size
		}
	}
	return b.String()
}

// MarshalText implements encoding.TextMarshaler with String.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseDuration.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("duration %q: %w", text, err)
	}
	*d = Duration(v)
	return nil
}
