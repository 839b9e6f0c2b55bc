// Package metrics counts what totpd decides and writes the counts in the
// Prometheus text exposition format, for `totpctl metrics` and for the
// file `metrics_file` that node_exporter's textfile collector reads
// (totpd opens no TCP listener: it is a root daemon with no network).
//
// The counters are fed from one place, the audit log: Registry.Audit wraps
// the daemon's audit.Logger, and every audited decision is classified
// here (classify.go) from its op, result and reason. So the metrics count
// exactly what the audit records, and the engine has no second path for
// them. The store's fdatasync latency comes from store.Options.SyncObserver,
// the users by state from engine.CountUsers at exposition time.
package metrics

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/version"
)

// Registry holds totpd's counters. It is safe for concurrent use; the
// zero value is not: use New.
type Registry struct {
	verifications [len(verificationResults)]atomic.Uint64
	enrollments   [len(enrollmentKinds)]atomic.Uint64
	lockouts      atomic.Uint64
	recoveryUsed  atomic.Uint64
	sync          *Histogram

	mu    sync.Mutex
	users func() (engine.UserCounts, error)
}

// New returns a Registry with every counter at zero.
func New() *Registry {
	return &Registry{sync: NewHistogram(SyncBuckets)}
}

// SetUsers sets what counts the users by state at each exposition
// (engine.CountUsers); without it the family totpd_users is left out.
func (r *Registry) SetUsers(f func() (engine.UserCounts, error)) {
	r.mu.Lock()
	r.users = f
	r.mu.Unlock()
}

// ObserveSync records one fdatasync of the store's journal
// (store.Options.SyncObserver).
func (r *Registry) ObserveSync(d time.Duration) { r.sync.Observe(d) }

// Audit returns an audit.Logger that counts each event and passes it on
// to next (nil: counts only).
func (r *Registry) Audit(next audit.Logger) audit.Logger {
	return &tee{r: r, next: next}
}

type tee struct {
	r    *Registry
	next audit.Logger
}

func (t *tee) Log(ev audit.Event) {
	t.r.count(ev)
	if t.next != nil {
		t.next.Log(ev)
	}
}

// The metric names, one place.
const (
	nameVerifications = "totpd_verifications_total"
	nameLockouts      = "totpd_lockouts_total"
	nameEnrollments   = "totpd_enrollments_total"
	nameRecoveryUsed  = "totpd_recovery_codes_used_total"
	nameUsers         = "totpd_users"
	nameSync          = "totpd_store_sync_seconds"
	nameBuildInfo     = "totpd_build_info"
)

// Text reports the exposition: every family, in a fixed order. When the
// users cannot be counted, that family is left out and the error is
// reported beside the rest of the text.
func (r *Registry) Text() ([]byte, error) {
	w := &textWriter{b: make([]byte, 0, 4096)}

	w.family(nameVerifications, "counter", "Codes typed at a login (login.verify), by result: ok (a TOTP or recovery code accepted), wrong, malformed, replay (a code of a step already used), locked (refused while locked out), not_enrolled, refused (no such account, bad request, not permitted), error (state unreadable or not written).")
	for i, res := range verificationResults {
		w.sample(nameVerifications, []label{{"result", res}}, float64(r.verifications[i].Load()))
	}

	w.family(nameLockouts, "counter", "Lockouts started: failures that reached [lockout] max_failures.")
	w.sample(nameLockouts, nil, float64(r.lockouts.Load()))

	w.family(nameEnrollments, "counter", "Enrollments completed, by kind: self (totpctl enroll), login (enroll_at_login), admin (totpctl user enroll), import (totpctl import).")
	for i, k := range enrollmentKinds {
		w.sample(nameEnrollments, []label{{"kind", k}}, float64(r.enrollments[i].Load()))
	}

	w.family(nameRecoveryUsed, "counter", "Recovery codes accepted (each one is then spent).")
	w.sample(nameRecoveryUsed, nil, float64(r.recoveryUsed.Load()))

	var uerr error
	r.mu.Lock()
	users := r.users
	r.mu.Unlock()
	if users != nil {
		var c engine.UserCounts
		c, uerr = users()
		if uerr == nil {
			w.family(nameUsers, "gauge", "Users totpd has a record of, by state; each user is in one state: error, locked, enrolled (not locked), required_not_enrolled, pending (an enrollment begun), not_enrolled.")
			for _, s := range []struct {
				state string
				n     int
			}{
				{"error", c.Error}, {"locked", c.Locked}, {"enrolled", c.Enrolled},
				{"required_not_enrolled", c.RequiredNotEnrolled}, {"pending", c.Pending}, {"not_enrolled", c.NotEnrolled},
			} {
				w.sample(nameUsers, []label{{"state", s.state}}, float64(s.n))
			}
		}
	}

	w.family(nameSync, "histogram", "Latency of the store's journal fdatasync, in seconds: every login's answer waits for one.")
	r.sync.write(w, nameSync)

	w.family(nameBuildInfo, "gauge", "The build of this totpd: always 1, with the version and the Go version as labels.")
	w.sample(nameBuildInfo, []label{{"version", version.Version}, {"goversion", runtime.Version()}}, 1)

	return w.b, uerr
}
