package engine

import (
	"crypto/subtle"
	"fmt"
	"github.com/totpd/totpd/daemon/config"
	"time"

	"github.com/totpd/totpd/daemon/enrolltext"
	"github.com/totpd/totpd/daemon/qrterm"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// PendingTTL is how long a begun enrollment waits for its confirming codes.
const PendingTTL = time.Hour

// EnrollBegin starts an enrollment for user: a new secret is kept as
// pending until EnrollConfirm proves the app has it. atLogin is the
// enroll_at_login path, allowed only when LoginQuery would say enroll.
func (e *Engine) EnrollBegin(user string, info Info, atLogin bool) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		if tx.rec.Secret != nil {
			return tx.refuse(wire.ErrCodeDenied, fmt.Sprintf("%s is already enrolled. To move to a new phone run `totpctl disable` (it asks for a code) first, or ask an administrator (`totpctl user disable %s`).", tx.acct.Name, tx.acct.Name), "already enrolled")
		}
		if atLogin {
			if r := tx.mayEnrollAtLogin(); r != nil {
				return r
			}
		}
		p, err := totpParams(tx.cfg.TOTP)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "totpd's [totp] settings are unusable: "+err.Error(), "bad totp config")
		}
		secret, err := totp.GenerateSecret(totp.DefaultSecretSize)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "cannot make a secret: "+err.Error(), "random failed")
		}
		tx.rec.Pending = &store.Pending{Secret: secret, Algorithm: string(p.Algorithm), Digits: p.Digits,
			PeriodSec: int(p.Period / time.Second), CreatedAt: tx.now}
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		en, err := tx.enrollment(secret, p)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, err.Error(), "uri failed")
		}
		en.ConfirmCodes = tx.cfg.Enroll.ConfirmCodes
		if atLogin {
			en.Text = loginEnrollmentText(en)
		}
		return tx.ok("ok", "enrollment begun", &wire.Response{Enrollment: en})
	})
}

// mayEnrollAtLogin refuses unless the policy sends this login to enrollment.
func (tx *userTx) mayEnrollAtLogin() *wire.Response {
	req, err := tx.required()
	if err != nil || !req || !tx.cfg.Policy.EnrollAtLogin {
		return tx.refuse(wire.ErrCodePermission, "enrollment at login is not on for this user", "enroll at login not allowed")
	}
	if dl, _ := tx.deadline(req); tx.now.Before(dl) {
		return tx.refuse(wire.ErrCodePermission, "enrollment at login is only for users past their deadline; run `totpctl enroll`", "enroll at login not allowed")
	}
	return nil
}

// enrollment reports the secret and Key URI to show the user.
func (tx *userTx) enrollment(secret []byte, p totp.Params) (*wire.Enrollment, error) {
	issuer := tx.cfg.EffectiveIssuer()
	uri, err := totp.Key{Issuer: issuer, Account: tx.acct.Name, Secret: secret, Params: p}.URI()
	if err != nil {
		return nil, fmt.Errorf("cannot build the otpauth URI (issuer %q): %w", issuer, err)
	}
	return &wire.Enrollment{User: tx.acct.Name, Secret: totp.EncodeSecret(secret), URI: uri}, nil
}

// EnrollConfirm finishes a begun enrollment with confirm_codes consecutive
// codes. The secret becomes active, the codes' steps count as used, and
// a fresh set of recovery codes is returned once.
func (e *Engine) EnrollConfirm(user string, codes []string, info Info, atLogin bool) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		if atLogin {
			if r := tx.mayEnrollAtLogin(); r != nil {
				return r
			}
		}
		pend := tx.rec.Pending
		if pend == nil || tx.now.Sub(pend.CreatedAt) > PendingTTL || tx.now.Before(pend.CreatedAt.Add(-time.Minute)) {
			return tx.refuse(wire.ErrCodeNoPending, "There is no enrollment waiting for codes (or it is older than an hour): start again with `totpctl enroll`.", "no pending enrollment")
		}
		want := tx.cfg.Enroll.ConfirmCodes
		if len(codes) != want {
			return tx.refuse(wire.ErrCodeBadRequest, fmt.Sprintf("Enrollment needs %d consecutive codes from the app, got %d.", want, len(codes)), "wrong number of codes")
		}
		p := totp.Params{Algorithm: totp.Algorithm(pend.Algorithm), Digits: pend.Digits, Period: time.Duration(pend.PeriodSec) * time.Second}
		last, ok := consecutive(p, pend.Secret, codes, tx.now, tx.cfg.TOTP.Window)
		if !ok {
			return tx.refuse(wire.ErrCodeDenied, "Those codes do not match the new key. Check the app's clock, scan the QR code again and type the codes as they appear, one after another.", "confirm codes wrong")
		}
		tx.rec.Secret, tx.rec.Algorithm, tx.rec.Digits, tx.rec.PeriodSec = pend.Secret, pend.Algorithm, pend.Digits, pend.PeriodSec
		tx.rec.Pending = nil
		tx.rec.EnrolledAt = tx.now
		tx.dropRemembered() // a new secret: none of the old one's logins stands
		tx.rec.LastStep = last
		tx.rec.DriftSteps = 0
		tx.succeed()
		rc, err := tx.newRecoveryCodes(tx.cfg.Recovery.Codes)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "cannot make recovery codes: "+err.Error(), "random failed")
		}
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		en := &wire.Enrollment{User: tx.acct.Name, RecoveryCodes: rc}
		if atLogin && len(rc) > 0 {
			en.Text = enrolltext.RecoveryConversation(rc)
		}
		return tx.ok("ok", "enrolled", &wire.Response{Enrollment: en})
	})
}

// loginEnrollmentText is what a person needs, inside a login, to add the
// secret to an app: the QR code (when it fits qrterm.Width columns), the
// key to type and the URI, as enrolltext.Conversation lays them out. The
// daemon draws it so that the PAM module, loaded at every login, links no
// QR encoder.
func loginEnrollmentText(en *wire.Enrollment) string {
	qr, err := qrterm.Fit(en.URI)
	if err != nil {
		qr = ""
	}
	return enrolltext.Conversation(en.Secret, en.URI, qr)
}

// consecutive reports whether codes are the codes of consecutive steps,
// the first within window steps of now and the last not in the future
// beyond the window, and the last step.
func consecutive(p totp.Params, secret []byte, codes []string, now time.Time, window int) (int64, bool) {
	cur := p.Step(now)
	for first := cur - int64(window); first <= cur+int64(window); first++ {
		last := first + int64(len(codes)) - 1
		if first < 0 || last > cur+int64(window) {
			continue
		}
		match := 1
		for i, c := range codes {
			want, err := p.CodeAt(secret, first+int64(i))
			if err != nil {
				return 0, false
			}
			match &= subtle.ConstantTimeCompare([]byte(want), []byte(c))
		}
		if match == 1 {
			return last, true
		}
	}
	return 0, false
}

// AdminEnroll makes and activates a secret for user at once, for an
// administrator to hand over; it replaces any existing one, and the whole
// state of an earlier account of the same name (another uid).
func (e *Engine) AdminEnroll(user string, info Info) *wire.Response {
	return e.update(user, info, true, func(tx *userTx) *wire.Response {
		p, err := totpParams(tx.cfg.TOTP)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "totpd's [totp] settings are unusable: "+err.Error(), "bad totp config")
		}
		secret, err := totp.GenerateSecret(totp.DefaultSecretSize)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, "cannot make a secret: "+err.Error(), "random failed")
		}
		en, err := tx.enrollment(secret, p)
		if err != nil {
			return tx.refuse(wire.ErrCodeInternal, err.Error(), "uri failed")
		}
		tx.rec.Secret, tx.rec.Algorithm, tx.rec.Digits, tx.rec.PeriodSec = secret, string(p.Algorithm), p.Digits, int(p.Period/time.Second)
		tx.rec.Pending = nil
		tx.rec.EnrolledAt = tx.now
		tx.dropRemembered() // a new secret: none of the old one's logins stands
		tx.rec.LastStep = -1
		tx.rec.DriftSteps = 0
		tx.clearLockout()
		if en.RecoveryCodes, err = tx.newRecoveryCodes(tx.cfg.Recovery.Codes); err != nil {
			return tx.refuse(wire.ErrCodeInternal, "cannot make recovery codes: "+err.Error(), "random failed")
		}
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		return tx.ok("ok", "enrolled by admin", &wire.Response{Enrollment: en})
	})
}

// totpParams reports the [totp] settings as parameters for new secrets.
func totpParams(c config.TOTP) (totp.Params, error) {
	p := totp.Params{Algorithm: totp.Algorithm(c.Algorithm), Digits: c.Digits, Period: c.Period.D()}
	return p, p.Check()
}
