package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// Local is the host's own store that Fleet keeps its copy in:
// *store.Store.
type Local interface {
	engine.Store
	Delete(user string) error
}

// Options are what Fleet is built from.
type Options struct {
	// Config is the [cluster] table; its Backend is "etcd".
	Config config.Cluster
	// CredentialsDir is $CREDENTIALS_DIRECTORY, for the etcd password.
	CredentialsDir string
	// Sealer seals records under the master key.
	Sealer *store.Sealer
	// Local is the host's journal, which holds the local copy.
	Local Local
	// AddFailures adds failures counted offline to a record under the
	// lockout rule (engine.Engine.AddFailures); nil: a plain sum.
	AddFailures func(rec *store.Record, n int)
	// Logf receives notices for the administrator.
	Logf func(format string, args ...any)
	// Now is the clock of the status; nil: time.Now.
	Now func() time.Time
}

// Fleet is the etcd Backend with its local copy. It is safe for
// concurrent use.
type Fleet struct {
	o     Options
	kv    *kv
	cc    clientv3.Config // the client's, for dial
	local engine.Backend  // versions over o.Local
	logf  func(string, ...any)

	// mode is held shared by every offline Put and alone to go online,
	// so that no offline decision is being saved when the host goes
	// online and the last write-back pass sees it.
	mode  sync.RWMutex
	state atomic.Pointer[state]

	// users serialises, per user, everything that writes the local
	// copy: offline Puts, the watch, the write-back.
	users sync.Map // user name → *sync.Mutex

	pendingMu sync.Mutex
	pending   map[string]bool // users with offline decisions not in etcd yet

	// stopFollow ends the current watch when the host goes offline.
	followMu   sync.Mutex
	stopFollow context.CancelFunc

	wake chan struct{} // a request saw etcd fail: probe now

	// followFrom is the revision the local copy is complete to: the
	// watch starts after it.
	followFrom atomic.Int64
	everOnline atomic.Bool
	// hasCopy is set once the local copy is known to hold the cluster's
	// records (a record copied from etcd, or a resync done): without it
	// an offline host would take every user for not enrolled.
	hasCopy atomic.Bool
}

// state is whether the host is online, since when, and why not.
type state struct {
	online  bool
	since   time.Time
	lastErr string
}

// New builds the Fleet and, without an RBAC user, its etcd client. It
// does no network I/O, so it does not fail when etcd is down; Start does
// the first contact. With an RBAC user, making the client authenticates,
// which needs etcd: that client is made by the first contact (dial).
func New(o Options) (*Fleet, error) {
	if o.Logf == nil {
		o.Logf = engine.StderrLogf
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	cc, err := clientConfig(o.Config, o.CredentialsDir)
	if err != nil {
		return nil, err
	}
	f := &Fleet{
		o: o, cc: cc, local: engine.Local(o.Local), logf: o.Logf,
		kv:      &kv{prefix: o.Config.Prefix, sealer: o.Sealer, timeout: o.Config.Timeout.D()},
		pending: map[string]bool{},
		wake:    make(chan struct{}, 1),
	}
	if cc.Username == "" {
		if err := f.dial(); err != nil {
			return nil, err
		}
	}
	f.state.Store(&state{since: o.Now(), lastErr: "not yet in contact with etcd"})
	return f, nil
}

// dial makes the etcd client if it is not made yet. With an RBAC user
// clientv3.New authenticates, bounded by DialTimeout (the timeout): an
// error then is etcd not answering (errEtcd), or the user's name or
// password refused (rpctypes.ErrAuthFailed). Called by New and by the
// first contact, from one goroutine at a time.
func (f *Fleet) dial() error {
	if f.kv.cli.Load() != nil {
		return nil
	}
	cli, err := clientv3.New(f.cc)
	if err != nil {
		if f.cc.Username != "" && !errors.Is(err, rpctypes.ErrAuthFailed) {
			return etcdErr(fmt.Sprintf("authenticating as %q", f.cc.Username), err)
		}
		return fmt.Errorf("etcd client for %v: %w", f.o.Config.Endpoints, err)
	}
	f.kv.cli.Store(cli)
	return nil
}

// redial drops an RBAC user's client before a probe of an offline host,
// so that the next dial makes a new one that authenticates afresh. The
// old client's token may be one etcd no longer knows (a member keeps the
// tokens it issued in memory: a cluster restarted has none), and etcd
// 3.4 refuses every request carrying it, Authenticate included, so that
// client's own renewal never succeeds. Only the sync loop calls it, while
// offline, when requests do not use the client.
func (f *Fleet) redial() {
	if f.cc.Username == "" {
		return
	}
	if cli := f.kv.cli.Swap(nil); cli != nil {
		_ = cli.Close()
	}
}

// Close closes the etcd client.
func (f *Fleet) Close() error {
	if cli := f.kv.cli.Load(); cli != nil {
		return cli.Close()
	}
	return nil
}

func (f *Fleet) online() bool { return f.state.Load().online }

// goOffline marks the host offline after err (once per change) and ends
// the watch; the sync loop probes until etcd answers again.
func (f *Fleet) goOffline(err error) {
	s := f.state.Load()
	if s.online {
		if f.state.CompareAndSwap(s, &state{online: false, since: f.o.Now(), lastErr: err.Error()}) {
			f.logf("cluster: offline: %v; deciding logins %s until etcd answers", err, f.offlineWhat())
			f.followMu.Lock()
			if f.stopFollow != nil {
				f.stopFollow()
			}
			f.followMu.Unlock()
		}
	} else if s.lastErr != err.Error() {
		f.state.CompareAndSwap(s, &state{online: false, since: s.since, lastErr: err.Error()})
	}
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *Fleet) offlineWhat() string {
	if f.o.Config.Offline == config.OfflineDeny {
		return "as unavailable (offline = \"deny\")"
	}
	return "from this host's copy (offline = \"local\")"
}

// lock serialises writes of one user's local copy.
func (f *Fleet) lock(user string) func() {
	m, _ := f.users.LoadOrStore(user, new(sync.Mutex))
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

func (f *Fleet) setPending(user string, on bool) {
	f.pendingMu.Lock()
	if on {
		f.pending[user] = true
	} else {
		delete(f.pending, user)
	}
	f.pendingMu.Unlock()
}

func (f *Fleet) pendingUsers() []string {
	f.pendingMu.Lock()
	defer f.pendingMu.Unlock()
	out := make([]string, 0, len(f.pending))
	for u := range f.pending {
		out = append(out, u)
	}
	return out
}

// Get reads user's record from etcd; offline, from the local copy.
func (f *Fleet) Get(user string) (store.Record, bool, engine.Version, error) {
	if f.online() {
		rec, ok, rev, err := f.kv.get(context.Background(), user)
		if !errors.Is(err, errEtcd) {
			return rec, ok, engine.Version(rev), err
		}
		f.goOffline(err)
	}
	return f.offlineGet(user)
}

// unavailable is the error of a request that offline = "deny" refuses.
func (f *Fleet) unavailable(what string) error {
	return fmt.Errorf("%w (%s) and this host is set to refuse then (offline = \"deny\"), so %s was not decided. "+
		"Try again once `totpctl cluster status` says online; an administrator must check the etcd endpoints %v",
		engine.ErrUnavailable, f.state.Load().lastErr, what, f.o.Config.Endpoints)
}

func (f *Fleet) offlineGet(user string) (store.Record, bool, engine.Version, error) {
	if f.o.Config.Offline == config.OfflineDeny {
		return store.Record{}, false, 0, f.unavailable("this request")
	}
	if !f.hasCopy.Load() {
		return store.Record{}, false, 0, fmt.Errorf("%w (%s), and this host has not yet copied the cluster's records, so it cannot decide alone: "+
			"an administrator must make etcd reachable from this host (see `totpctl cluster status`)", engine.ErrUnavailable, f.state.Load().lastErr)
	}
	rec, ok, ver, err := f.local.Get(user)
	if err == nil && ok && rec.Copy != nil && rec.Copy.Unreadable {
		return store.Record{}, false, 0, fmt.Errorf("%w: the record of %q in etcd did not open when this host last copied it (tampered, or sealed under another key), so offline it is denied",
			store.ErrCorrupt, user)
	}
	rec.Copy = nil
	return rec, ok, ver | engine.OfflineBit, err
}

// Put writes rec in etcd if its key is still at ver; offline, in the
// local copy, marked for the write-back. A version of one side given to
// the other (the host went online or offline between Get and Put) is a
// conflict: the engine decides again on the side in force now.
func (f *Fleet) Put(rec store.Record, ver engine.Version) (engine.Version, error) {
	if ver.Offline() {
		return f.offlinePut(rec, ver&^engine.OfflineBit)
	}
	if !f.online() {
		return 0, engine.ErrConflict
	}
	rev, err := f.kv.put(context.Background(), rec, int64(ver))
	switch {
	case err == nil:
		f.keepCopy(rec, rev)
		return engine.Version(rev), nil
	case errors.Is(err, errNotCurrent):
		return 0, engine.ErrConflict
	case errors.Is(err, errEtcd):
		// The write may or may not have happened. The host is offline
		// now, so the engine decides again over the local copy: with
		// offline = "local" the same login is accepted (or its failure
		// counted) at most once more here, and the write-back's rules
		// (the later step; failures added) make the two one; with
		// "deny" it answers unavailable.
		f.goOffline(err)
		return 0, engine.ErrConflict
	default:
		return 0, err
	}
}

// keepCopy writes what this host just wrote to etcd into its local copy
// before the answer: the copy must hold every step the host accepted and
// every failure it counted before the host can go offline, not only once
// the watch brings them back (the watch's copy is then a no-op). A
// failure here is logged: etcd has the decision, which stands.
func (f *Fleet) keepCopy(rec store.Record, rev int64) {
	if err := f.copyIn(rec, rev); err != nil {
		f.logf("cluster: the local copy of %q was not updated (it has it once the watch brings it): %v", rec.User, err)
	}
}

// copyIn takes rec, etcd's record at modRev, as the local copy, unless
// the copy is as new or holds offline decisions (the write-back merges
// those).
func (f *Fleet) copyIn(rec store.Record, modRev int64) error {
	unlock := f.lock(rec.User)
	defer unlock()
	for try := 0; try < 3; try++ {
		prev, found, lver, err := f.local.Get(rec.User)
		if err == nil && found && prev.Copy != nil && (prev.Copy.Offline != nil || prev.Copy.Rev >= modRev) {
			return nil
		}
		if err == nil && found && prev.Copy == nil {
			f.logf("cluster: user %q had its own record on this host (from before fleet mode); the cluster's replaces it", rec.User)
		}
		rec.Copy = &store.ClusterCopy{Rev: modRev}
		_, err = f.local.Put(rec, lver)
		if !errors.Is(err, engine.ErrConflict) {
			return err
		}
	}
	return nil
}

// offlinePut saves a decision made offline in the local copy, with what
// it changed summed up for the write-back (offlineChanges).
func (f *Fleet) offlinePut(next store.Record, ver engine.Version) (engine.Version, error) {
	f.mode.RLock()
	defer f.mode.RUnlock()
	if f.online() {
		return 0, engine.ErrConflict
	}
	unlock := f.lock(next.User)
	defer unlock()
	prev, found, _, err := f.local.Get(next.User)
	if err != nil {
		return 0, err
	}
	copyOf, err := offlineChanges(prev, found, next)
	if err != nil {
		return 0, fmt.Errorf("%w (%s): %v", engine.ErrUnavailable, f.state.Load().lastErr, err)
	}
	next.Copy = copyOf
	v, err := f.local.Put(next, ver)
	if err != nil {
		return 0, err
	}
	f.setPending(next.User, true)
	return v | engine.OfflineBit, nil
}

// Users lists the users in etcd; offline, those of the local copy.
func (f *Fleet) Users() ([]string, error) {
	if f.online() {
		users, err := f.kv.users(context.Background())
		if !errors.Is(err, errEtcd) {
			return users, err
		}
		f.goOffline(err)
	}
	if f.o.Config.Offline == config.OfflineDeny {
		return nil, f.unavailable("the list of users")
	}
	return f.local.Users()
}

// Copy reports the local copy as a Backend, for reads that may trail
// etcd by the watch's lag (the metrics' counts of users by state).
func (f *Fleet) Copy() engine.Backend { return f.local }

// Status reports the host's view of the cluster (totpctl cluster status).
func (f *Fleet) Status() wire.ClusterStatus {
	s := f.state.Load()
	st := wire.ClusterStatus{
		Backend: config.BackendEtcd, Online: s.online, Pending: len(f.pendingUsers()),
		Endpoints: f.o.Config.Endpoints, Offline: f.o.Config.Offline,
		Since: s.since.UTC().Format(time.RFC3339),
	}
	if !s.online {
		st.LastError = s.lastErr
	}
	return st
}
