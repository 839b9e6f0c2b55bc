package totp

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"time"
)

// The reasons Validate refuses a code. Validate may wrap them with detail,
// so test with errors.Is. Any other error is a fault of the caller (bad
// Params, options or secret), not of the person typing the code.
var (
	// ErrFormat reports a code of the wrong length or with anything but the
	// digits 0-9 in it (spaces included). It is decided before any HMAC is
	// computed, so junk costs nothing.
	ErrFormat = errors.New("malformed code")
	// ErrMismatch reports a well-formed code that matches no step in the window.
	ErrMismatch = errors.New("code does not match")
	// ErrReplay reports a code that matches only steps at or before the last
	// accepted one: RFC 6238 §5.2 allows each code once.
	ErrReplay = errors.New("code was already used: wait for the next one")
)

// Bounds on ValidateOptions and Diagnose.
const (
	// MaxWindow bounds ValidateOptions.Window. Ten steps either side is
	// ±5 minutes at 30 s; wider windows mostly help guessers.
	MaxWindow = 10
	// DefaultMaxDrift is the drift bound used when ValidateOptions.MaxDrift
	// is 0: ten steps, ±5 minutes at 30 s.
	DefaultMaxDrift = 10
	// MaxDriftLimit bounds ValidateOptions.MaxDrift.
	MaxDriftLimit = 1000
	// DiagnoseSpan is how far Diagnose looks either side of now when given span 0.
	DiagnoseSpan = 10 * time.Minute
	// MaxDiagnoseSpan bounds the span Diagnose accepts.
	MaxDiagnoseSpan = time.Hour
)

// maxNowStep keeps every step Validate or Diagnose may try far from int64
// overflow; it is billions of years away, so no real clock reaches it.
const maxNowStep = 1 << 62

// ValidateOptions are the per-user state and policy Validate applies.
// The zero value is not "no state": set LastStep to -1 when no code has
// been accepted yet.
type ValidateOptions struct {
	// Window is how many steps either side of the centre are accepted, 0 to MaxWindow.
	Window int
	// Drift is the user's recorded clock drift in steps (Result.Drift of the
	// last accepted code). Window steps around now's step + Drift are
	// accepted, and so are Window steps around now's step itself, whatever
	// Drift is: a phone whose clock was corrected is never locked out by
	// the drift it used to have. Drift is clamped to ±MaxDrift, so the
	// accepted steps are never further than MaxDrift+Window from now,
	// whatever was recorded.
	Drift int
	// LastStep is the step of the last accepted code, or -1 for none. A
	// code matching a step at or before it is refused with ErrReplay.
	LastStep int64
	// MaxDrift bounds |Drift|, 0 to MaxDriftLimit; 0 means DefaultMaxDrift.
	// To ignore drift altogether, always pass Drift 0.
	MaxDrift int
}

// Check reports an error naming the first option out of range, or nil.
// Drift is never an error: Validate clamps it.
func (o ValidateOptions) Check() error {
	if o.Window < 0 || o.Window > MaxWindow {
		return fmt.Errorf("window must be 0 to %d steps, not %d", MaxWindow, o.Window)
	}
	if o.MaxDrift < 0 || o.MaxDrift > MaxDriftLimit {
		return fmt.Errorf("max drift must be 0 to %d steps, not %d", MaxDriftLimit, o.MaxDrift)
	}
	return nil
}

// Result reports an accepted code.
type Result struct {
	// Step is the time step the code matched: record it as the next LastStep.
	Step int64
	// Drift is Step minus now's step: record it as the user's next Drift.
	Drift int
}

// Validate reports whether code is the TOTP code of secret at a step within
// o.Window of now's step + o.Drift (clamped to ±o.MaxDrift), or within
// o.Window of now's step, and after o.LastStep. On success the Result holds
// the matched step and the new drift. A refused code reports ErrFormat,
// ErrMismatch or ErrReplay (possibly wrapped); bad Params, options, secret or
// a clock before 1970 report other errors.
//
// The window around now is searched whatever the drift because a recorded
// drift otherwise only follows a clock that keeps drifting: once the phone's
// clock is set right again, its codes fall outside a window centred on the
// old drift and no code could ever re-centre it, so the user would be locked
// out for good. The alternative, bounding the drift by the window and having
// an admin unlock reset it, still needs an admin for every corrected clock.
// Searching both windows needs nothing and keeps RFC 6238 §5.2 as it is: the
// LastStep test applies to every step of both, so a step at or before the
// last accepted one is never accepted. A corrected phone whose code is for a
// step already used (up to Drift+Window steps) gets ErrReplay until its clock
// passes LastStep, then is accepted and its drift is 0 again. The price is at
// most twice as many steps accepted while a drift is recorded: 2·(2·Window+1)
// instead of 2·Window+1, still bounded and still counted by the lockout.
//
// Every step in the windows is computed and compared in constant time, so the
// time taken does not tell which step matched or whether one did. If several
// steps match (a 1-in-a-million collision), the one nearest now's step +
// drift wins, the later one on a tie, then the one nearest now's step.
func (p Params) Validate(secret []byte, code string, now time.Time, o ValidateOptions) (Result, error) {
	if err := p.Check(); err != nil {
		return Result{}, err
	}
	if err := o.Check(); err != nil {
		return Result{}, err
	}
	want, err := parseCode(code, p.Digits)
	if err != nil {
		return Result{}, err
	}
	nowStep, err := p.searchStep(now)
	if err != nil {
		return Result{}, err
	}
	mac, err := newMAC(p.Algorithm, secret, p.Digits)
	if err != nil {
		return Result{}, err
	}
	maxDrift := o.MaxDrift
	if maxDrift == 0 {
		maxDrift = DefaultMaxDrift
	}
	drift := min(max(o.Drift, -maxDrift), maxDrift)
	m := search(mac, p.Digits, want, []int64{nowStep + int64(drift), nowStep}, o.Window, o.LastStep)
	switch {
	case m.found:
		return Result{Step: m.step, Drift: int(m.step - nowStep)}, nil
	case m.replay:
		return Result{}, ErrReplay
	}
	return Result{}, ErrMismatch
}

// Diagnosis reports what Diagnose found.
type Diagnosis struct {
	// Found says whether the code matched any step in the span.
	Found bool
	// Step is the matching step nearest now (the later one on a tie).
	Step int64
	// Drift is Step minus now's step: 0 means the code is for now,
	// -2 means it is two steps old (the user's clock is behind).
	Drift int
}

// Diagnose reports whether code matches secret at any step within span
// (0 means DiagnoseSpan, ±10 minutes) either side of now, and if so how many
// steps away the nearest match is. It uses and changes no state: it is for
// telling a user whose codes are refused that their clock is off, never for
// accepting a code. Malformed codes report ErrFormat as in Validate; a
// well-formed code that matches nothing is Found false and no error.
func (p Params) Diagnose(secret []byte, code string, now time.Time, span time.Duration) (Diagnosis, error) {
	if err := p.Check(); err != nil {
		return Diagnosis{}, err
	}
	if span == 0 {
		span = DiagnoseSpan
	}
	if span < 0 || span > MaxDiagnoseSpan {
		return Diagnosis{}, fmt.Errorf("diagnose span must be 0 to %v, not %v", MaxDiagnoseSpan, span)
	}
	want, err := parseCode(code, p.Digits)
	if err != nil {
		return Diagnosis{}, err
	}
	nowStep, err := p.searchStep(now)
	if err != nil {
		return Diagnosis{}, err
	}
	mac, err := newMAC(p.Algorithm, secret, p.Digits)
	if err != nil {
		return Diagnosis{}, err
	}
	// Round up, so the whole span is covered whatever the period.
	steps := int((span + p.Period - 1) / p.Period)
	m := search(mac, p.Digits, want, []int64{nowStep}, steps, -1)
	if !m.found {
		return Diagnosis{}, nil
	}
	return Diagnosis{Found: true, Step: m.step, Drift: int(m.step - nowStep)}, nil
}

// parseCode reports the value of a code of exactly digits ASCII digits, or
// an error wrapping ErrFormat. The message never repeats the code.
func parseCode(code string, digits int) (uint32, error) {
	if len(code) != digits {
		return 0, fmt.Errorf("%w: got %d characters, want %d digits", ErrFormat, len(code), digits)
	}
	var v uint32
	for i := 0; i < len(code); i++ {
		c := code[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%w: character %d is not a digit 0-9 (type the digits only, no spaces)", ErrFormat, i+1)
		}
		v = v*10 + uint32(c-'0')
	}
	return v, nil
}

// searchStep reports now's step for a search, or an error for a clock
// before 1970 (no step exists) or absurdly far ahead (the search could overflow).
func (p Params) searchStep(now time.Time) (int64, error) {
	s := p.Step(now)
	if s < 0 {
		return 0, fmt.Errorf("clock reads %v, before 1970: TOTP has no time step then; fix the system clock", now.UTC())
	}
	if s > maxNowStep {
		return 0, fmt.Errorf("clock reads %v, out of range: fix the system clock", now.UTC())
	}
	return s, nil
}

// match is what search found.
type match struct {
	found  bool  // a step after lastStep matched
	step   int64 // the preferred such step
	replay bool  // a step at or before lastStep matched
}

// search computes the code of every step within radius of any of centres
// (negative steps excepted: they do not exist), each step once, and compares
// each with want in constant time. Centres are taken in order and, around
// each, steps nearest first, later before earlier; the first match after
// lastStep is kept. The loop never stops early and keeps its choice with
// masks, not branches on the comparison.
func search(mac hash.Hash, digits int, want uint32, centres []int64, radius int, lastStep int64) match {
	var found, replay int
	var step int64
	for c, centre := range centres {
		for i := 0; i <= 2*radius; i++ {
			off := int64((i + 1) / 2) // 0, +1, -1, +2, -2, …
			if i%2 == 0 {
				off = -off
			}
			s := centre + off
			// Which steps exist and which an earlier centre covered depends
			// only on the clock and the state, not on the code.
			if s < 0 || nearAny(s, centres[:c], radius) {
				continue
			}
			eq := subtle.ConstantTimeEq(int32(truncate(mac, uint64(s), digits)), int32(want))
			fresh := 1
			if s <= lastStep { // lastStep is state, not secret: branching on it leaks nothing
				fresh = 0
			}
			take := eq & fresh & (1 - found)
			step = selectInt64(take, s, step)
			found |= take
			replay |= eq & (1 - fresh)
		}
	}
	return match{found: found == 1, step: step, replay: replay == 1}
}

// nearAny reports whether step s is within radius of one of centres.
func nearAny(s int64, centres []int64, radius int) bool {
	for _, c := range centres {
		if s >= c-int64(radius) && s <= c+int64(radius) {
			return true
		}
	}
	return false
}

// selectInt64 reports x if v is 1 and y if v is 0, without a branch.
func selectInt64(v int, x, y int64) int64 {
	mask := -int64(v)
	return x&mask | y&^mask
}
