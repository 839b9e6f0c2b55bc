package engine

import (
	"errors"

	"github.com/totpd/totpd/daemon/wire"
)

// UserCounts sorts the users totpd has a record of into disjoint states,
// for the metric totpd_users{state}: each user is counted once, in the
// first state of this order that fits.
type UserCounts struct {
	// Error: a login would be refused for a state or lookup error (the
	// record cannot be read, belongs to another uid, or the account or
	// its groups cannot be looked up).
	Error int
	// Locked: enrolled and locked out now.
	Locked int
	// Enrolled: enrolled and not locked.
	Enrolled int
	// RequiredNotEnrolled: the policy requires a code and none is set up
	// (in the grace period or past it), whether or not an enrollment is begun.
	RequiredNotEnrolled int
	// Pending: not required, an enrollment begun within PendingTTL.
	Pending int
	// NotEnrolled: the rest (disabled, exempt, or never enrolled, and
	// not required), and records of accounts that are gone.
	NotEnrolled int
}

// CountUsers reports how many users are in each state now. It only
// reads: no lock is taken (a record read during a login is the one
// before or after it, either being a true count of a moment), nothing is
// saved, logged or audited, so calling it every 15 s costs the logins
// nothing but CPU. Its cost is one store read and one policy check per
// user (ARCHITECTURE.md, "Where each rule lives", gives the figure for
// 10,000 users). In fleet mode the counts come from the host's local
// copy (a backend with a Copy method), which trails etcd by the watch's
// lag, rather than from one etcd read per user every 15 s.
func (e *Engine) CountUsers() (UserCounts, error) {
	var c UserCounts
	st := e.store
	if cp, ok := st.(interface{ Copy() Backend }); ok {
		st = cp.Copy()
	}
	users, err := st.Users()
	if err != nil {
		return c, err
	}
	cfg := e.Config()
	now := e.now()
	for _, name := range users {
		acct, err := e.accounts.User(name)
		gone := errors.Is(err, ErrNoAccount)
		if err != nil && !gone {
			c.Error++
			continue
		}
		rec, _, _, err := st.Get(name)
		if err != nil || !gone && rec.UID != nil && *rec.UID != acct.UID {
			c.Error++
			continue
		}
		tx := &userTx{e: e, cfg: cfg, now: now, acct: acct, rec: rec}
		if rec.Secret != nil {
			if locked, _ := tx.locked(); locked {
				c.Locked++
			} else {
				c.Enrolled++
			}
			continue
		}
		if !gone {
			req, err := tx.required()
			if err != nil {
				c.Error++
				continue
			}
			if req {
				c.RequiredNotEnrolled++
				continue
			}
		}
		if p := rec.Pending; p != nil && now.Sub(p.CreatedAt) <= PendingTTL {
			c.Pending++
			continue
		}
		c.NotEnrolled++
	}
	return c, nil
}

// Metrics answers `totpctl metrics`: the text of Options.Metrics. A
// failure to count the users leaves their family out of the text, and
// is logged and audited, not a refusal: the counters are still worth
// having.
func (e *Engine) Metrics(info Info) *wire.Response {
	if e.metrics == nil {
		return e.refuse(info, "", wire.ErrCodeInternal, "this totpd has no metrics", "metrics off")
	}
	text, err := e.metrics()
	reason := "metrics"
	if err != nil {
		e.logf("metrics: %v", err)
		reason = "metrics, users not counted"
	}
	e.log(info, "", "ok", reason)
	return &wire.Response{Version: wire.Version, Metrics: string(text)}
}
