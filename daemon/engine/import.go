package engine

import (
	"fmt"
	"time"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// MinImportSecretSize is the shortest secret Import takes, in bytes: 80
// bits, what pam_google_authenticator made before it moved to 128. A
// shorter key can be searched offline from one code; such users enroll
// anew. New secrets are never below totp.MinSecretSize.
const MinImportSecretSize = 10

// Import makes user an enrolled user with the secret another TOTP module
// held for it (totpctl import; the CLI parses and opens the files). The
// secret keeps its algorithm, digits and period, so the user's app goes
// on working; its single-use codes become recovery codes, hashed as
// newRecoveryCodes hashes them; the last step the old module accepted is
// carried, so a code used there is not accepted here. An enrolled user is
// refused: an admin disables it first (`totpctl user disable`), so that
// an import run twice, or over a user who enrolled in totpd meanwhile,
// never replaces a phone that works. Like AdminEnroll it starts afresh
// over the state of an earlier account of the same name. With DryRun
// everything is checked and nothing is saved. The answer's Messages say
// what did not carry over exactly (the window, a clamped drift).
func (e *Engine) Import(user string, imp *wire.ImportSecret, info Info) *wire.Response {
	if imp == nil {
		return e.refuse(info, user, wire.ErrCodeBadRequest, "an import request needs the secret to import", "import without secret")
	}
	secret, p, refusal := checkImport(imp)
	if refusal != "" {
		return e.refuse(info, user, wire.ErrCodeBadRequest, refusal, "import refused: bad secret")
	}
	return e.update(user, info, true, func(tx *userTx) *wire.Response {
		if imp.FileUID != nil && *imp.FileUID != tx.acct.UID {
			return tx.refuse(wire.ErrCodePermission, fmt.Sprintf("the file is owned by uid %d, but %s is uid %d: only the user's own file is imported", *imp.FileUID, tx.acct.Name, tx.acct.UID), "import refused: file of another uid")
		}
		if tx.rec.Secret != nil {
			return tx.refuse(wire.ErrCodeDenied, fmt.Sprintf("%s is already enrolled in totpd; to replace that enrollment with the imported one, run `totpctl user disable %s` first", tx.acct.Name, tx.acct.Name), "import refused: already enrolled")
		}
		cur := p.Step(tx.now)
		if imp.LastStep > cur+int64(totp.MaxWindow+MaxDriftSteps) {
			return tx.refuse(wire.ErrCodeBadRequest, fmt.Sprintf("the file's last used code is %s ahead of this host's clock: check the clock (timedatectl) before importing", time.Duration(imp.LastStep-cur)*p.Period), "import refused: last step in the future")
		}
		var notes []wire.Message
		note := func(format string, a ...any) { notes = append(notes, wire.Message{Text: fmt.Sprintf(format, a...)}) }
		if w := tx.cfg.TOTP.Window; imp.Window >= 0 && imp.Window != w {
			note("window: the file accepted codes %d steps either side of now; totpd accepts %d for every user ([totp] window)", imp.Window, w)
		}
		if len(secret) < totp.MinSecretSize {
			note("the secret is %d bits, below RFC 4226's %d: enroll this user anew when convenient", 8*len(secret), 8*totp.MinSecretSize)
		}
		drift := clampDrift(imp.DriftSteps)
		if drift != imp.DriftSteps {
			note("clock drift: the file's %d steps is clamped to totpd's bound, %d", imp.DriftSteps, drift)
		}
		hashes := make([]string, 0, len(imp.RecoveryCodes))
		for _, c := range imp.RecoveryCodes {
			if !isRecoveryShape(c) && !isScratchShape(c) {
				return tx.refuse(wire.ErrCodeBadRequest, "an imported recovery code is neither a totpd recovery code nor an 8-digit scratch code", "import refused: bad recovery code")
			}
			hashes = append(hashes, hashRecovery(tx.acct.Name, c))
		}
		reason := fmt.Sprintf("from %s: %d recovery codes, last step %d", imp.Source, len(hashes), imp.LastStep)
		if imp.DryRun {
			return tx.ok("ok", "import checked (dry run) "+reason, &wire.Response{Messages: notes})
		}
		tx.rec.Secret, tx.rec.Algorithm, tx.rec.Digits, tx.rec.PeriodSec = secret, string(p.Algorithm), p.Digits, int(p.Period/time.Second)
		tx.rec.Pending = nil
		tx.rec.EnrolledAt = tx.now
		tx.dropRemembered()
		// The code showing now may have been typed under the old module a
		// moment ago, after the file was read: it is refused, the next one
		// is taken (as a restore does).
		tx.rec.LastStep = max(imp.LastStep, p.Step(tx.now))
		tx.rec.DriftSteps = drift
		tx.rec.RecoveryHashes = hashes
		tx.clearLockout()
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "imported "+reason, &wire.Response{Messages: notes})
	})
}

// checkImport reports the secret and parameters of imp, or why they
// cannot be used; the reason never repeats the secret.
func checkImport(imp *wire.ImportSecret) ([]byte, totp.Params, string) {
	if imp.Source != wire.ImportGoogleAuthenticator && imp.Source != wire.ImportOath {
		return nil, totp.Params{}, fmt.Sprintf("unknown import source %q", imp.Source)
	}
	secret, err := totp.DecodeSecret(imp.Secret)
	if err != nil {
		return nil, totp.Params{}, "the imported secret: " + err.Error()
	}
	if len(secret) < MinImportSecretSize {
		return nil, totp.Params{}, fmt.Sprintf("the imported secret is %d bits; totpd imports %d bits or more: enroll this user anew", 8*len(secret), 8*MinImportSecretSize)
	}
	p := totp.Params{Algorithm: totp.Algorithm(imp.Algorithm), Digits: imp.Digits, Period: time.Duration(imp.PeriodSec) * time.Second}
	if imp.PeriodSec < 1 || imp.PeriodSec > int(totp.MaxPeriod/time.Second) {
		return nil, totp.Params{}, fmt.Sprintf("the imported period, %d s, is out of range", imp.PeriodSec)
	}
	if err := p.Check(); err != nil {
		return nil, totp.Params{}, "the imported parameters: " + err.Error()
	}
	if len(imp.RecoveryCodes) > wire.MaxImportRecovery {
		return nil, totp.Params{}, fmt.Sprintf("%d recovery codes; the limit is %d", len(imp.RecoveryCodes), wire.MaxImportRecovery)
	}
	return secret, p, ""
}

// isScratchShape reports whether code has the shape of
// pam_google_authenticator's scratch codes, which Import keeps as
// recovery codes: eight digits, the first not 0 (GA's own rule).
// checkCode tries such a code as a recovery code when it is not a valid
// TOTP code; a user with 8-digit TOTP codes and no imported scratch
// codes has no recovery hash it could match.
func isScratchShape(code string) bool {
	if len(code) != 8 || code[0] < '1' || code[0] > '9' {
		return false
	}
	for i := 1; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}
