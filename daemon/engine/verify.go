package engine

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/totpd/totpd/totp"
)

// MaxDriftSteps bounds the clock drift totpd will follow for a user's
// phone: codes are looked for around now + recorded drift, and around now
// itself so that a phone whose clock was set right is never locked out (see
// totp.Params.Validate); the drift never goes beyond this many steps either way.
const MaxDriftSteps = 4

// outcome is what checking one submitted code found.
type outcome int

const (
	outMismatch outcome = iota // not a valid code
	outFormat                  // not shaped like a code at all
	outReplay                  // a code for a step already used
	outTOTP                    // a fresh TOTP code
	outRecovery                // an unused recovery code
)

// params reports the TOTP parameters the user enrolled with.
func (tx *userTx) params() totp.Params {
	return totp.Params{
		Algorithm: totp.Algorithm(tx.rec.Algorithm),
		Digits:    tx.rec.Digits,
		Period:    time.Duration(tx.rec.PeriodSec) * time.Second,
	}
}

// checkCode checks a code the user typed against the stored secret and
// recovery codes, and applies an accepted one to the record (step used,
// drift, recovery code spent). It does not count failures or save.
func (tx *userTx) checkCode(code string) outcome {
	if isRecoveryShape(code) {
		if tx.spendRecovery(code) {
			return outRecovery
		}
		return outMismatch
	}
	p := tx.params()
	res, err := p.Validate(tx.rec.Secret, code, tx.now, totp.ValidateOptions{
		Window:   tx.cfg.TOTP.Window,
		Drift:    tx.rec.DriftSteps,
		MaxDrift: MaxDriftSteps,
		LastStep: tx.rec.LastStep,
	})
	switch {
	case err == nil:
		tx.rec.LastStep = res.Step
		tx.rec.DriftSteps = clampDrift(res.Drift)
		return outTOTP
	case isScratchShape(code) && tx.spendRecovery(code):
		// An imported pam_google_authenticator scratch code (import.go).
		return outRecovery
	case errors.Is(err, totp.ErrFormat):
		return outFormat
	case errors.Is(err, totp.ErrReplay):
		return outReplay
	}
	return outMismatch
}

func clampDrift(d int) int {
	return max(-MaxDriftSteps, min(MaxDriftSteps, d))
}

// Recovery codes are ten characters of lower-case Base32 shown as
// "abcde-fghij": 50 bits each, typed once, stored only as hashes.
const (
	recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz234567"
	recoveryLen      = 10
)

// isRecoveryShape reports whether code looks like a recovery code rather than a TOTP code.
func isRecoveryShape(code string) bool {
	n := normalizeRecovery(code)
	if len(n) != recoveryLen {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !strings.ContainsRune(recoveryAlphabet, rune(n[i])) {
			return false
		}
	}
	// All digits would be a mistyped TOTP code, not a recovery code.
	return strings.Trim(n, "234567") != ""
}

func normalizeRecovery(code string) string {
	if len(code) == recoveryLen+1 && code[5] == '-' {
		code = code[:5] + code[6:]
	}
	return strings.ToLower(code)
}

// hashRecovery binds the code to the user so a hash copied between users is worthless.
func hashRecovery(user, code string) string {
	h := sha256.New()
	fmt.Fprintf(h, "totpd recovery v1\x00%s\x00%s", user, normalizeRecovery(code))
	// 128 bits of the hash are plenty for a 50-bit code and halve what
	// every journal record of the user carries.
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// spendRecovery removes a matching unused recovery code. Every stored
// hash is compared, in constant time, whether or not one matched.
func (tx *userTx) spendRecovery(code string) bool {
	want := []byte(hashRecovery(tx.acct.Name, code))
	hit := -1
	for i, h := range tx.rec.RecoveryHashes {
		if subtle.ConstantTimeCompare(want, []byte(h)) == 1 {
			hit = i
		}
	}
	if hit < 0 {
		return false
	}
	tx.rec.RecoveryHashes = append(tx.rec.RecoveryHashes[:hit:hit], tx.rec.RecoveryHashes[hit+1:]...)
	return true
}

// newRecoveryCodes makes n recovery codes, stores their hashes in the
// record (voiding older ones) and reports the codes to show once.
func (tx *userTx) newRecoveryCodes(n int) ([]string, error) {
	codes := make([]string, 0, n)
	hashes := make([]string, 0, n)
	for range n {
		raw, err := totp.GenerateSecret(totp.MinSecretSize)
		if err != nil {
			return nil, err
		}
		var b [recoveryLen]byte
		for i := range b {
			b[i] = recoveryAlphabet[raw[i]&31]
		}
		c := string(b[:5]) + "-" + string(b[5:])
		codes = append(codes, c)
		hashes = append(hashes, hashRecovery(tx.acct.Name, c))
	}
	tx.rec.RecoveryHashes = hashes
	return codes, nil
}
