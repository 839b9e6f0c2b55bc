package totp

import (
	"fmt"
	"time"
)

// MaxPeriod bounds Params.Period. Nothing uses periods this long; the bound
// keeps period arithmetic (seconds to time.Duration) far from overflow.
const MaxPeriod = 24 * time.Hour

// Params are the parameters a TOTP secret is used with; they travel in the Key URI.
type Params struct {
	// Algorithm is the HMAC hash: SHA1, SHA256 or SHA512.
	Algorithm Algorithm
	// Digits is the code length, 6 to 8 (apps show 6 or 8).
	Digits int
	// Period is the time step, whole seconds from 1s to MaxPeriod (30s in every app).
	Period time.Duration
}

// DefaultParams reports the parameters every authenticator app supports:
// SHA1, 6 digits, 30 seconds.
func DefaultParams() Params {
	return Params{Algorithm: SHA1, Digits: 6, Period: 30 * time.Second}
}

// Check reports an error naming the first bad parameter, or nil.
func (p Params) Check() error {
	if _, err := p.Algorithm.newHash(); err != nil {
		return err
	}
	if err := checkDigits(p.Digits); err != nil {
		return err
	}
	if p.Period < time.Second || p.Period > MaxPeriod || p.Period%time.Second != 0 {
		return fmt.Errorf("period must be a whole number of seconds from 1s to %v, not %v", MaxPeriod, p.Period)
	}
	return nil
}

// Step reports the RFC 6238 time step T = floor((t - T0) / period) with T0 = 0.
// Times before 1970 have no step and report -1.
func (p Params) Step(t time.Time) int64 {
	sec := t.Unix()
	if sec < 0 || p.Period < time.Second {
		return -1
	}
	return sec / int64(p.Period/time.Second)
}

// StepTime reports the start of step s.
func (p Params) StepTime(s int64) time.Time {
	return time.Unix(s*int64(p.Period/time.Second), 0)
}

// Code reports the TOTP code for secret at time t.
func (p Params) Code(secret []byte, t time.Time) (string, error) {
	if err := p.Check(); err != nil {
		return "", err
	}
	s := p.Step(t)
	if s < 0 {
		return "", fmt.Errorf("time %v is before 1970", t)
	}
	return p.CodeAt(secret, s)
}

// CodeAt reports the TOTP code for secret at time step s.
func (p Params) CodeAt(secret []byte, s int64) (string, error) {
	if s < 0 {
		return "", fmt.Errorf("negative time step %d", s)
	}
	return HOTP(p.Algorithm, secret, uint64(s), p.Digits)
}
