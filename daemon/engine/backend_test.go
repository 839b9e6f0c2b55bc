package engine

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// sharedBackend is a Backend two engines share, as hosts share etcd: each
// engine's lock is its own, only the versions keep them apart. between,
// when set, runs at the start of the next Put, before its check: another
// host's write between this host's read and its save.
type sharedBackend struct {
	mu        sync.Mutex
	recs      map[string]store.Record
	vers      map[string]Version
	clock     Version
	conflicts int
	between   func()
	always    bool // between runs before every Put, not once
}

func (b *sharedBackend) Get(u string) (store.Record, bool, Version, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.recs[u]
	return r, ok, b.vers[u], nil
}

func (b *sharedBackend) Put(r store.Record, ver Version) (Version, error) {
	b.mu.Lock()
	f := b.between
	if !b.always {
		b.between = nil
	}
	b.mu.Unlock()
	if f != nil {
		f()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.vers[r.User] != ver {
		b.conflicts++
		return 0, fmt.Errorf("user %q at version %d, not %d: %w", r.User, b.vers[r.User], ver, ErrConflict)
	}
	b.clock++
	b.vers[r.User], b.recs[r.User] = b.clock, r
	return b.clock, nil
}

func (b *sharedBackend) Users() ([]string, error) { return nil, nil }

// touch is another host's write that changes nothing but the version.
func (b *sharedBackend) touch(user string) func() {
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.clock++
		b.vers[user] = b.clock
	}
}

// twoHosts is two engines, A and B, over one sharedBackend.
type twoHosts struct {
	a, b   *Engine
	sh     *sharedBackend
	ra, rb *audit.Recorder
	now    time.Time
}

func newTwoHosts(edit func(*config.Config)) *twoHosts {
	cfg := config.Default()
	if edit != nil {
		edit(&cfg)
	}
	h := &twoHosts{sh: &sharedBackend{recs: map[string]store.Record{}, vers: map[string]Version{}},
		ra: &audit.Recorder{}, rb: &audit.Recorder{}, now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	accts := fakeAccounts{users: map[string]uint32{"alice": 1001, "bob": 1002, "carol": 1003}}
	now := func() time.Time { return h.now }
	h.a = New(cfg, h.sh, Options{Accounts: accts, Audit: h.ra, Now: now})
	h.b = New(cfg, h.sh, Options{Accounts: accts, Audit: h.rb, Now: now})
	return h
}

func (h *twoHosts) enroll(t *testing.T, user string) []byte { return adminEnroll(t, h.a, user) }

func (h *twoHosts) code(t *testing.T, secret []byte, offset time.Duration) string {
	return codeAt(t, secret, h.now.Add(offset))
}

// TestConflictSameCodeOnce: host B accepts alice's code between host A's
// read and save of the same code. A's save conflicts, A reads B's record
// and decides again: the code is used, so A refuses it. Exactly one of the
// two accepts, and A audits only its final decision.
func TestConflictSameCodeOnce(t *testing.T) {
	h := newTwoHosts(nil)
	secret := h.enroll(t, "alice")
	c := h.code(t, secret, 0)
	before := len(h.ra.Snapshot())
	var rb *wire.Response
	h.sh.between = func() { rb = h.b.LoginVerify("alice", c, info) }
	ra := h.a.LoginVerify("alice", c, info)
	require.Nil(t, rb.Error, "B, first to save, accepts")
	require.NotNil(t, ra.Error, "A, deciding again on B's record, refuses")
	require.Equal(t, wire.ErrCodeDenied, ra.Error.Code)
	require.Contains(t, ra.Error.Message, "already used")
	require.Equal(t, 1, h.sh.conflicts)
	ev := h.ra.Snapshot()[before:]
	require.Len(t, ev, 1, "the void try is not audited")
	require.Equal(t, "denied", ev[0].Result)
	require.Equal(t, "code reused", ev[0].Reason)
	rec, _, _, _ := h.sh.Get("alice")
	require.Equal(t, totp.DefaultParams().Step(h.now), rec.LastStep)
	require.Zero(t, rec.Failures, "a replay is not counted, on either host")
}

// TestConflictFailuresAddUp: failures made on B while A decides are added
// to, not overwritten, and a lock B sets holds on A.
func TestConflictFailuresAddUp(t *testing.T) {
	h := newTwoHosts(func(c *config.Config) { c.Lockout.MaxFailures = 3 })
	secret := h.enroll(t, "alice")
	h.sh.between = func() { h.b.LoginVerify("alice", "000000", info) }
	require.Equal(t, wire.ErrCodeDenied, h.a.LoginVerify("alice", "111111", info).Error.Code)
	rec, _, _, _ := h.sh.Get("alice")
	require.Equal(t, 2, rec.Failures, "B's failure and A's, not A's over B's")

	var rb *wire.Response
	h.sh.between = func() { rb = h.b.LoginVerify("alice", "222222", info) }
	ra := h.a.LoginVerify("alice", "333333", info)
	require.Equal(t, wire.ErrCodeLocked, rb.Error.Code, "B's failure is the third: B locks")
	require.Equal(t, wire.ErrCodeLocked, ra.Error.Code, "A decides again on B's record: locked")
	rec, _, _, _ = h.sh.Get("alice")
	require.Equal(t, 3, rec.Failures)
	require.True(t, rec.LockedUntil.After(h.now) || rec.LockedForever)
	require.Equal(t, 2, h.sh.conflicts)

	// The lock holds on both hosts, for the right code too.
	require.Equal(t, wire.ErrCodeLocked, h.a.LoginVerify("alice", h.code(t, secret, 0), info).Error.Code)
	require.Equal(t, wire.ErrCodeLocked, h.b.LoginVerify("alice", h.code(t, secret, 0), info).Error.Code)
}

// TestConflictAtSecondSave: disable saves the accepted code, then the
// disabling. When another host writes between the two, disable decides
// again and finds its own code used: it refuses, the code is not accepted
// twice and the secret stays.
func TestConflictAtSecondSave(t *testing.T) {
	h := newTwoHosts(nil)
	secret := h.enroll(t, "alice")
	h.sh.between = func() { h.sh.between = h.sh.touch("alice") } // fires at the second Put
	r := h.a.Disable("alice", h.code(t, secret, 0), info)
	require.NotNil(t, r.Error)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code)
	require.Contains(t, r.Error.Message, "already used")
	require.Equal(t, 1, h.sh.conflicts)
	rec, _, _, _ := h.sh.Get("alice")
	require.NotNil(t, rec.Secret, "not disabled")
	require.Equal(t, totp.DefaultParams().Step(h.now), rec.LastStep, "the code's step is used")
}

// TestRetryBound: when the record changes before every save, A gives up
// after maxTries with an internal error that says why, audits it once,
// and records nothing: the code still works once the writes stop.
func TestRetryBound(t *testing.T) {
	h := newTwoHosts(nil)
	secret := h.enroll(t, "alice")
	c := h.code(t, secret, 0)
	before := len(h.ra.Snapshot())
	h.sh.between, h.sh.always = h.sh.touch("alice"), true
	r := h.a.LoginVerify("alice", c, info)
	require.NotNil(t, r.Error)
	require.Equal(t, wire.ErrCodeInternal, r.Error.Code)
	require.Contains(t, r.Error.Message, fmt.Sprintf("changed between reading and writing it %d times", maxTries))
	require.Contains(t, r.Error.Message, "nothing was changed")
	require.Equal(t, maxTries, h.sh.conflicts)
	ev := h.ra.Snapshot()[before:]
	require.Len(t, ev, 1)
	require.Equal(t, "error", ev[0].Result)

	h.sh.between, h.sh.always = nil, false
	require.Nil(t, h.a.LoginVerify("alice", c, info).Error, "the refused request recorded nothing")
}

// TestEverySaveRetries runs every op that saves with one conflict before
// its first save and without, and requires the same answers and audit:
// each op decides again rather than fail, and none saves outside update.
func TestEverySaveRetries(t *testing.T) {
	run := func(inject bool) []string {
		h := newTwoHosts(func(c *config.Config) {
			c.Policy.Require = "all"
			c.Enroll.ConfirmCodes = 2
		})
		var out []string
		do := func(name, user string, op func() *wire.Response) *wire.Response {
			if inject {
				h.sh.between = h.sh.touch(user)
			}
			r := op()
			require.Nil(t, h.sh.between, "%s saved nothing", name)
			h.sh.between = nil
			msg := ""
			if r.Error != nil {
				msg = r.Error.Code
			}
			out = append(out, name+" "+msg)
			return r
		}
		step := 30 * time.Second
		do("login.query", "alice", func() *wire.Response { return h.a.LoginQuery("alice", info) })
		do("status", "bob", func() *wire.Response { return h.a.Status("bob", info) })
		r := do("enroll.begin", "alice", func() *wire.Response { return h.a.EnrollBegin("alice", info, false) })
		secret, err := totp.DecodeSecret(r.Enrollment.Secret)
		require.NoError(t, err)
		codes := []string{h.code(t, secret, -step), h.code(t, secret, 0)}
		do("enroll.confirm", "alice", func() *wire.Response { return h.a.EnrollConfirm("alice", codes, info, false) })
		do("login.verify wrong", "alice", func() *wire.Response { return h.a.LoginVerify("alice", "000000", info) })
		do("unlock", "alice", func() *wire.Response { return h.a.Unlock("alice", info) })
		do("require", "alice", func() *wire.Response { return h.a.Require("alice", "", info) })
		do("exempt", "alice", func() *wire.Response { return h.a.Exempt("alice", info) })
		h.now = h.now.Add(step)
		do("login.verify", "alice", func() *wire.Response { return h.a.LoginVerify("alice", h.code(t, secret, 0), info) })
		h.now = h.now.Add(step)
		do("recovery-codes", "alice", func() *wire.Response { return h.a.RecoveryCodes("alice", h.code(t, secret, 0), info) })
		h.now = h.now.Add(step)
		do("disable", "alice", func() *wire.Response { return h.a.Disable("alice", h.code(t, secret, 0), info) })
		do("admin enroll", "bob", func() *wire.Response { return h.a.AdminEnroll("bob", info) })
		do("admin disable", "bob", func() *wire.Response { return h.a.AdminDisable("bob", info) })
		imp := gaImport(t, []byte("0123456789abcdefghij"), 0)
		do("import", "carol", func() *wire.Response { return h.a.Import("carol", imp, info) })
		if inject {
			require.Equal(t, len(out), h.sh.conflicts, "one conflict per op")
		}
		for _, e := range h.ra.Snapshot() {
			out = append(out, e.Op+" "+e.User+" "+e.Result+" "+e.Reason)
		}
		return out
	}
	plain := run(false)
	require.Equal(t, plain, run(true))
	for _, l := range plain[:14] {
		require.NotContains(t, l, wire.ErrCodeInternal, l)
	}
}

// TestLocalVersions: the local backend refuses a write conditioned on a
// version that is no longer current (after a Put, after a restore's
// Replace), and of two writes from one version exactly one lands.
func TestLocalVersions(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	st, err := store.Open(t.TempDir(), key, store.Options{Logf: t.Logf})
	require.NoError(t, err)
	defer st.Close()
	l := Local(st)

	_, found, v0, err := l.Get("alice")
	require.NoError(t, err)
	require.False(t, found)
	v1, err := l.Put(store.Record{User: "alice", LastStep: 1}, v0)
	require.NoError(t, err)
	require.NotEqual(t, v0, v1)
	_, err = l.Put(store.Record{User: "alice", LastStep: 2, Failures: 9}, v0)
	require.ErrorIs(t, err, ErrConflict, "v0 is stale")
	rec, _, v, err := l.Get("alice")
	require.NoError(t, err)
	require.Equal(t, v1, v)
	require.Equal(t, int64(1), rec.LastStep, "the stale write stored nothing")
	require.Zero(t, rec.Failures)

	// A restore moves every version, of users written and not.
	_, _, vb, err := l.Get("bob")
	require.NoError(t, err)
	bs, ok := l.(*localBackend).backups()
	require.True(t, ok)
	require.NoError(t, bs.Replace([]store.Record{{User: "alice", LastStep: 5}}))
	_, err = l.Put(store.Record{User: "alice", LastStep: 6}, v1)
	require.ErrorIs(t, err, ErrConflict, "a version read before the restore")
	_, err = l.Put(store.Record{User: "bob", LastStep: 6}, vb)
	require.ErrorIs(t, err, ErrConflict, "a version read before the restore")
	rec, _, v, err = l.Get("alice")
	require.NoError(t, err)
	require.Equal(t, int64(5), rec.LastStep)
	_, err = l.Put(store.Record{User: "alice", LastStep: 7}, v)
	require.NoError(t, err)

	// Racing writes from one version: one wins, the other conflicts.
	for i := range 50 {
		_, _, v, err := l.Get("carol")
		require.NoError(t, err)
		errs := make(chan error, 2)
		for range 2 {
			go func() {
				_, err := l.Put(store.Record{User: "carol", LastStep: int64(i)}, v)
				errs <- err
			}()
		}
		e1, e2 := <-errs, <-errs
		require.True(t, (e1 == nil) != (e2 == nil), "exactly one write lands: %v, %v", e1, e2)
		require.ErrorIs(t, errorsJoinNonNil(e1, e2), ErrConflict)
	}
}

func errorsJoinNonNil(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
