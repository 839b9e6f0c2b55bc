package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// Remembered logins ([policy] remember, PRODUCT.md §4), the rules in one
// place:
//
//   - Made by an accepted code at login.verify (remember), and only for a
//     login with a remote host asked by root (rememberable: Info.ClaimedBy
//     empty; a non-root caller's service, rhost and key are its claims).
//   - The key is the SHA-256 over the length-prefixed user, service,
//     remote host and public key identity (rememberKey); only the hash is
//     stored (store.Remembered), at most MaxRemembered a user, the oldest
//     going first.
//   - Applied at login.query (rememberedUntil) to an enrolled, unlocked
//     user: an entry of this key, made no earlier than the last drop
//     (Record.ForgetBefore) and the enrollment, not in the future (a clock
//     stepped back), and younger than both its own Until and remember as
//     in force now. remember = 0s applies none.
//   - Dropped (dropRemembered) by a lockout (lockIfDue), a disable
//     (clearSecret), a re-enrollment (EnrollConfirm, AdminEnroll,
//     Import), `totpctl user forget`
//     (Forget) and a restore (raise).
//   - Pruned of expired and void entries at every save (userTx.save).
//   - In fleet mode the write-back unites both sides' entries over the
//     later drop (UniteRemembered, called from daemon/cluster/merge.go).

// MaxRemembered bounds the remembered logins of one user.
const MaxRemembered = 16

// rememberKey is the key of a remembered login: the hex SHA-256 over the
// parts, each preceded by its length, so that no two different logins
// share a key by moving bytes from one part to the next.
func rememberKey(user, service, rhost, pubkey string) string {
	h := sha256.New()
	var n [4]byte
	for _, p := range []string{"totpd remember v1", user, service, rhost, pubkey} {
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rememberable reports the key of the transaction's login, or false when
// the login may not be remembered: remember off, no remote host, or the
// login's description claimed by a caller other than root.
func (tx *userTx) rememberable() (string, bool) {
	// Not for forward_pass's one prompt either: the client sends password
	// and code together, and an answer without a code would leave the
	// module nothing to tell the password from (wire.Request.Flow).
	if tx.cfg.Policy.Remember.D() <= 0 || tx.info.RHost == "" || tx.info.ClaimedBy != "" || tx.info.Flow == wire.FlowForwardPass {
		return "", false
	}
	return rememberKey(tx.acct.Name, tx.info.Service, tx.info.RHost, tx.info.PubKey), true
}

// remember records the transaction's login after an accepted code, if it
// may be remembered; the caller saves.
func (tx *userTx) remember() {
	key, ok := tx.rememberable()
	if !ok {
		return
	}
	list := slices.DeleteFunc(slices.Clone(tx.rec.Remembered), func(r store.Remembered) bool { return r.Key == key })
	list = append(list, store.Remembered{Key: key, At: tx.now, Until: tx.now.Add(tx.cfg.Policy.Remember.D())})
	tx.rec.Remembered = boundRemembered(list)
}

// rememberedUntil reports until when the transaction's login is
// remembered, or false.
func (tx *userTx) rememberedUntil() (time.Time, bool) {
	key, ok := tx.rememberable()
	if !ok {
		return time.Time{}, false
	}
	limit := tx.cfg.Policy.Remember.D()
	for _, r := range tx.rec.Remembered {
		if r.Key != key || !tx.live(r) {
			continue
		}
		until := r.Until
		if u := r.At.Add(limit); u.Before(until) {
			until = u
		}
		if tx.now.Before(until) {
			return until, true
		}
	}
	return time.Time{}, false
}

// live reports whether r is neither expired nor void: made no earlier
// than the last drop and the enrollment, not later than now.
func (tx *userTx) live(r store.Remembered) bool {
	return tx.now.Before(r.Until) && !tx.now.Before(r.At) &&
		!r.At.Before(tx.rec.ForgetBefore) && !r.At.Before(tx.rec.EnrolledAt)
}

// rememberedAnswer is login.query's answer for a remembered login.
func (tx *userTx) rememberedAnswer(until time.Time) *wire.Response {
	what := "this service and this address"
	if tx.info.PubKey != "" {
		what = "this service, this address and key"
	}
	when := formatDeadline(until)
	if u, n := until.Local(), tx.now.Local(); u.YearDay() == n.YearDay() && u.Year() == n.Year() {
		when = u.Format("15:04 MST") // today
	}
	msg := fmt.Sprintf("Remembered login: no code needed until %s (%s).", when, what)
	return tx.ok("remembered", "remembered login until "+until.UTC().Format(time.RFC3339),
		&wire.Response{Action: wire.ActionAllow, Messages: []wire.Message{{Text: msg}}})
}

// dropRemembered drops the user's remembered logins, and voids any that
// a fleet host wrote back from before now (Record.ForgetBefore).
func (tx *userTx) dropRemembered() {
	tx.rec.Remembered = nil
	if tx.now.After(tx.rec.ForgetBefore) {
		tx.rec.ForgetBefore = tx.now
	}
}

// pruneRemembered drops the expired and void entries before a save:
// also one made in the future (a clock that ran ahead and was set back)
// or spanning more than MaxRemember, which would otherwise come back to
// life once the clock caught up with it.
func (tx *userTx) pruneRemembered() {
	if len(tx.rec.Remembered) == 0 {
		tx.rec.Remembered = nil
		return
	}
	list := slices.DeleteFunc(slices.Clone(tx.rec.Remembered), func(r store.Remembered) bool {
		return !tx.now.Before(r.Until) || r.At.Before(tx.rec.ForgetBefore) || r.At.Before(tx.rec.EnrolledAt) ||
			tx.now.Before(r.At) || overlong(r)
	})
	if len(list) == 0 {
		list = nil
	}
	tx.rec.Remembered = list
}

// overlong reports an entry spanning more than remember can ever be:
// not one this daemon made.
func overlong(r store.Remembered) bool { return r.Until.Sub(r.At) > config.MaxRemember }

// boundRemembered keeps the MaxRemembered newest entries of list, oldest first.
func boundRemembered(list []store.Remembered) []store.Remembered {
	slices.SortStableFunc(list, func(a, b store.Remembered) int { return a.At.Compare(b.At) })
	if len(list) > MaxRemembered {
		list = list[len(list)-MaxRemembered:]
	}
	return list
}

// UniteRemembered is fleet mode's write-back of remembered logins
// (daemon/cluster/merge.go): the entries of both sides, the later of one
// key, less those made before the later drop of the two, bounded
// as always. It returns the entries and that drop.
func UniteRemembered(a []store.Remembered, aForget time.Time, b []store.Remembered, bForget time.Time) ([]store.Remembered, time.Time) {
	forget := aForget
	if bForget.After(forget) {
		forget = bForget
	}
	byKey := map[string]store.Remembered{}
	for _, r := range append(slices.Clone(a), b...) {
		if r.At.Before(forget) || overlong(r) {
			continue
		}
		if old, ok := byKey[r.Key]; !ok || r.At.After(old.At) {
			byKey[r.Key] = r
		}
	}
	var list []store.Remembered
	for _, r := range byKey {
		list = append(list, r)
	}
	if len(list) == 0 {
		return nil, forget
	}
	return boundRemembered(list), forget
}

// Forget drops user's remembered logins (`totpctl user forget`).
func (e *Engine) Forget(user string, info Info) *wire.Response {
	return e.update(user, info, false, func(tx *userTx) *wire.Response {
		n := 0
		for _, r := range tx.rec.Remembered {
			if tx.live(r) {
				n++
			}
		}
		tx.dropRemembered()
		if err := tx.save(); err != nil {
			return tx.saveFailed()
		}
		msg := fmt.Sprintf("%s's remembered logins are forgotten (%d): the next login asks for a code.", tx.acct.Name, n)
		return tx.ok("ok", fmt.Sprintf("forgot %d remembered logins", n),
			&wire.Response{Forgotten: &n, Messages: []wire.Message{{Text: msg}}})
	})
}
