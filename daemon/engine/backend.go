package engine

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/totpd/totpd/daemon/store"
)

// Backend is where the engine keeps users' records: the local journal
// (Local) or, in fleet mode, a store every host shares. Every write is
// conditioned on the version the decision was made from, so that a write
// by another host between a read and a save is never overwritten: the
// engine re-reads and decides again (Engine.update). Per-user locking
// inside one daemon stays the engine's; the version is what holds across
// daemons.
type Backend interface {
	// Get returns user's record, whether it exists, and the version it
	// was read at. An error means the state cannot be read or trusted:
	// the caller must deny the user.
	Get(user string) (rec store.Record, found bool, ver Version, err error)
	// Put stores rec as rec.User's record if that record is still at
	// ver, and returns its new version; if it changed since, it stores
	// nothing and returns an error wrapping ErrConflict.
	Put(rec store.Record, ver Version) (Version, error)
	// Users lists every user with a record, sorted.
	Users() ([]string, error)
}

// Version identifies one state of one user's record in a Backend. It is
// opaque: only the Backend that issued it compares it, and only for
// equality (etcd's mod revision; the local backend's write counter).
type Version uint64

// ErrConflict is wrapped by Backend.Put's error when the record changed
// since the version the write was conditioned on.
var ErrConflict = errors.New("engine: the user's record changed since it was read")

// ErrUnavailable is wrapped by a Backend's error when it cannot answer
// now and nothing was decided: fleet mode with the etcd cluster not
// answering and offline = "deny", or a change (an enrollment, an admin
// command) that is only made with the cluster. The engine answers
// wire.ErrCodeUnavailable with the error's text, which says what to do.
var ErrUnavailable = errors.New("the etcd cluster cannot be reached")

// OfflineBit is set in the Versions a fleet backend issues for its local
// copy while the cluster does not answer (daemon/cluster): a decision
// over such a version was made offline, and the audit says so.
const OfflineBit Version = 1 << 63

// Offline reports whether v was issued for a decision made offline.
func (v Version) Offline() bool { return v&OfflineBit != 0 }

// Store is what the local backend keeps records in: *store.Store, whose
// Puts are unconditional and must be serialised per user by the caller.
type Store interface {
	Get(user string) (store.Record, bool, error)
	Put(r store.Record) error
	Users() ([]string, error)
}

// Local returns the Backend over the local journal st, the default. Its
// versions live in memory: the journal is written by this daemon alone
// (the state directory is flock'ed), so a version never needs to outlive
// the process. With the engine's per-user lock no conflict can arise
// here; the check is still made, so that the engine's retry is the same
// code for every backend.
func Local(st Store) Backend { return &localBackend{st: st} }

// localBackend versions a Store's records with a counter per user.
type localBackend struct {
	st Store
	// mu is held shared by Put and alone by Replace, so that no
	// conditional write straddles a restore.
	mu    sync.RWMutex
	clock atomic.Uint64 // the last version issued
	// base is the version of a user written neither since start nor
	// since the last Replace: a Replace moves it, so a version read
	// before a restore is refused after it.
	base  atomic.Uint64
	users sync.Map // user name → *localUser, from the user's first Put
}

type localUser struct {
	mu  sync.Mutex // serialises the check, the write and the bump
	ver atomic.Uint64
}

func (l *localBackend) version(user string) Version {
	if u, ok := l.users.Load(user); ok {
		return Version(u.(*localUser).ver.Load())
	}
	return Version(l.base.Load())
}

// Get reads the version before the record: a write racing the Get can
// then only make the version older than the record (a needless retry),
// never the record older than its version (an overwrite).
func (l *localBackend) Get(user string) (store.Record, bool, Version, error) {
	v := l.version(user)
	rec, ok, err := l.st.Get(user)
	return rec, ok, v, err
}

// Put checks ver, writes and then bumps the version, under the user's
// mutex. The bump comes after the write, so a Get in between returns the
// new record with the old version (see Get).
func (l *localBackend) Put(rec store.Record, ver Version) (Version, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	u := l.user(rec.User)
	u.mu.Lock()
	defer u.mu.Unlock()
	if Version(u.ver.Load()) != ver {
		return 0, ErrConflict
	}
	err := l.st.Put(rec)
	// Bumped even on error: the store may or may not hold rec now, and a
	// needless conflict is the safe side.
	v := l.clock.Add(1)
	u.ver.Store(v)
	if err != nil {
		return 0, err
	}
	return Version(v), nil
}

// user returns user's entry, made at its first write at the base version
// (a Load first, so that no entry is allocated per call).
func (l *localBackend) user(name string) *localUser {
	if u, ok := l.users.Load(name); ok {
		return u.(*localUser)
	}
	n := &localUser{}
	n.ver.Store(l.base.Load())
	u, _ := l.users.LoadOrStore(name, n)
	return u.(*localUser)
}

func (l *localBackend) Users() ([]string, error) { return l.st.Users() }

// backups reports the Store's backup side, with Replace moving every
// user's version, or false if the Store has none.
func (l *localBackend) backups() (backupStore, bool) {
	bs, ok := l.st.(backupStore)
	if !ok {
		return nil, false
	}
	return localBackups{bs, l}, true
}

type localBackups struct {
	backupStore
	l *localBackend
}

// Replace replaces the whole state and moves every user's version past
// any read before it.
func (b localBackups) Replace(recs []store.Record) error {
	b.l.mu.Lock()
	defer b.l.mu.Unlock()
	err := b.backupStore.Replace(recs)
	b.l.users.Clear()
	b.l.base.Store(b.l.clock.Add(1))
	return err
}
