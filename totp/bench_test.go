package totp

import (
	"testing"
	"time"
)

func BenchmarkCode(b *testing.B) {
	p := DefaultParams()
	now := time.Unix(1111111109, 0)
	for b.Loop() {
		if _, err := p.Code(rfcSecret, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkValidate checks a code one step old with window 1: three HMACs,
// the cost of every login.
func BenchmarkValidate(b *testing.B) {
	p := DefaultParams()
	now := time.Unix(1111111109, 0)
	code, err := p.Code(rfcSecret, now.Add(-30*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	o := ValidateOptions{Window: 1, LastStep: -1}
	for b.Loop() {
		if _, err := p.Validate(rfcSecret, code, now, o); err != nil {
			b.Fatal(err)
		}
	}
}
