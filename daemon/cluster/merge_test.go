package cluster

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func enrolled(user string) store.Record {
	uid := uint32(1000)
	return store.Record{User: user, UID: &uid, Secret: []byte("0123456789abcdef0123"), Algorithm: "SHA1", Digits: 6, PeriodSec: 30,
		EnrolledAt: t0, LastStep: 100, RecoveryHashes: []string{"h1", "h2", "h3"}}
}

// TestOfflineChangesLoginOnly: what a login changes is kept and summed
// up; an enrollment or an admin change offline is refused.
func TestOfflineChangesLoginOnly(t *testing.T) {
	prev := enrolled("alice")
	prev.Copy = &store.ClusterCopy{Rev: 42}

	fail := prev
	fail.Failures = 2
	c, err := offlineChanges(prev, true, fail)
	require.NoError(t, err)
	require.Equal(t, int64(42), c.Rev, "the copy's revision stays the one it was taken at")
	require.Equal(t, 2, c.Offline.Failures)
	require.Equal(t, t0, c.Offline.EnrolledAt)
	require.False(t, c.Offline.Accepted)

	// A success after it forgives the failures counted here, and a used
	// recovery code is remembered.
	fail.Copy = c
	ok := fail
	ok.Failures, ok.LastStep, ok.LastSuccess = 0, 101, t0.Add(time.Minute)
	ok.RecoveryHashes = []string{"h1", "h3"}
	c, err = offlineChanges(fail, true, ok)
	require.NoError(t, err)
	require.True(t, c.Offline.Accepted)
	require.Zero(t, c.Offline.Failures)
	require.Equal(t, []string{"h2"}, c.Offline.UsedRecovery)

	locked := prev
	locked.Failures, locked.LockedUntil = 5, t0.Add(15*time.Minute)
	c, err = offlineChanges(prev, true, locked)
	require.NoError(t, err)
	require.True(t, c.Offline.Locked)
	require.Zero(t, c.Offline.Failures, "the failures that set a lock are carried by the lock, not added again")
	require.NotEmpty(t, c.Offline.ID)

	// The lock ran out and the count restarted at one new failure: only
	// that one counts.
	locked.Copy = c
	after := locked
	after.Failures, after.LockedUntil = 1, time.Time{}
	c, err = offlineChanges(locked, true, after)
	require.NoError(t, err)
	require.Equal(t, 1, c.Offline.Failures)
	require.False(t, c.Offline.Locked)

	for name, change := range map[string]func(r *store.Record){
		"disable":         func(r *store.Record) { r.Secret = nil },
		"re-enroll":       func(r *store.Record) { r.Secret = []byte("another secret 12345"); r.EnrolledAt = t0.Add(time.Hour) },
		"begin enrolling": func(r *store.Record) { r.Pending = &store.Pending{Secret: []byte("x")} },
		"exempt":          func(r *store.Record) { r.Override = "exempt" },
		"new codes":       func(r *store.Record) { r.RecoveryHashes = []string{"h1", "h9"} },
	} {
		next := prev
		change(&next)
		_, err := offlineChanges(prev, true, next)
		require.ErrorIs(t, err, errNeedsCluster, name)
	}

	// A user without a record: a login may start the grace period.
	uid := uint32(7)
	grace := store.Record{User: "bob", UID: &uid, LastStep: -1, FirstRequired: t0}
	c, err = offlineChanges(store.Record{}, false, grace)
	require.NoError(t, err)
	require.Zero(t, c.Rev)
}

// TestMerge: the write-back rules of PRODUCT.md §8.
func TestMerge(t *testing.T) {
	relocks := 0
	relock := func(r *store.Record, n int) {
		relocks++
		r.Failures += n
		if r.Failures >= 5 && r.LockedUntil.IsZero() {
			r.LockedUntil = t0.Add(time.Hour)
		}
	}
	local := enrolled("alice")
	local.LastStep, local.LastSuccess, local.Failures = 105, t0.Add(time.Minute), 0
	local.RecoveryHashes = []string{"h1", "h3"}
	local.Copy = &store.ClusterCopy{Rev: 42, Offline: &store.OfflineChanges{ID: "wb1", EnrolledAt: t0, Accepted: true, UsedRecovery: []string{"h2"}}}

	t.Run("later step wins, used code goes", func(t *testing.T) {
		remote := enrolled("alice")
		remote.LastStep, remote.Failures = 103, 1
		out, write := merge(remote, true, local, relock)
		require.True(t, write)
		require.Equal(t, int64(105), out.LastStep)
		require.Equal(t, []string{"h1", "h3"}, out.RecoveryHashes)
		require.Equal(t, 1, out.Failures, "failures other hosts counted stay")
		require.Nil(t, out.Copy)
		require.Equal(t, "wb1", out.WriteBack, "the merged record names its write-back")

		// The write-back landed but its answer was lost: the retry finds
		// its id in etcd's record and merges nothing twice.
		again, write := merge(out, true, local, relock)
		require.False(t, write)
		require.Equal(t, out.Failures, again.Failures)

		remote.LastStep = 110
		out, _ = merge(remote, true, local, relock)
		require.Equal(t, int64(110), out.LastStep, "etcd's later step wins too")
	})
	t.Run("failures added and relocked", func(t *testing.T) {
		l := local
		l.LastStep = 100
		l.Failures = 3
		l.Copy = &store.ClusterCopy{Rev: 42, Offline: &store.OfflineChanges{ID: "wb2", EnrolledAt: t0, Failures: 3}}
		remote := enrolled("alice")
		remote.Failures = 2
		before := relocks
		out, write := merge(remote, true, l, relock)
		require.True(t, write)
		require.Equal(t, 5, out.Failures)
		require.Equal(t, before+1, relocks)
		require.Equal(t, t0.Add(time.Hour), out.LockedUntil, "the sum reached max_failures: locked")
	})
	t.Run("offline lock holds", func(t *testing.T) {
		l := local
		l.LockedForever = true
		l.Copy = &store.ClusterCopy{Rev: 42, Offline: &store.OfflineChanges{EnrolledAt: t0, Failures: 5, Locked: true}}
		out, _ := merge(enrolled("alice"), true, l, nil)
		require.True(t, out.LockedForever)
		l.Copy.Offline.Locked = false // a lock from before going offline that an admin lifted meanwhile
		out, _ = merge(enrolled("alice"), true, l, nil)
		require.False(t, out.LockedForever)
	})
	t.Run("admin disable meanwhile wins", func(t *testing.T) {
		remote := enrolled("alice")
		remote.Secret, remote.RecoveryHashes = nil, nil
		out, write := merge(remote, true, local, relock)
		require.False(t, write)
		require.Nil(t, out.Secret)
	})
	t.Run("re-enrolled meanwhile wins", func(t *testing.T) {
		remote := enrolled("alice")
		remote.EnrolledAt, remote.LastStep = t0.Add(time.Hour), 50
		out, write := merge(remote, true, local, relock)
		require.False(t, write)
		require.Equal(t, int64(50), out.LastStep)
	})
	t.Run("never in etcd", func(t *testing.T) {
		l := local
		l.Copy = &store.ClusterCopy{Rev: 0, Offline: local.Copy.Offline}
		out, write := merge(store.Record{}, false, l, relock)
		require.True(t, write)
		require.Equal(t, int64(105), out.LastStep)
		require.Nil(t, out.Copy)
	})
	t.Run("removed from etcd", func(t *testing.T) {
		_, write := merge(store.Record{}, false, local, relock)
		require.False(t, write)
	})
}

// TestSealedRecord: a record sealed for etcd opens only under its own
// user and key, and carries none of the host's bookkeeping.
func TestSealedRecord(t *testing.T) {
	key := make([]byte, 32)
	s, err := store.NewSealer(key)
	require.NoError(t, err)
	r := enrolled("alice")
	r.Seq, r.Copy = 9, &store.ClusterCopy{Rev: 3}
	b, err := s.SealRecord(r)
	require.NoError(t, err)
	require.NotContains(t, string(b), string(r.Secret))
	got, err := s.OpenRecord("alice", b)
	require.NoError(t, err)
	require.Equal(t, r.Secret, got.Secret)
	require.Zero(t, got.Seq)
	require.Nil(t, got.Copy)
	_, err = s.OpenRecord("mallory", b)
	require.ErrorIs(t, err, store.ErrCorrupt, "copied to another user's key")
	other := make([]byte, 32)
	other[0] = 1
	s2, err := store.NewSealer(other)
	require.NoError(t, err)
	_, err = s2.OpenRecord("alice", b)
	require.ErrorIs(t, err, store.ErrCorrupt)
	require.NoError(t, s.CheckKey(s.SealKeyCheck()))
	require.ErrorIs(t, s2.CheckKey(s.SealKeyCheck()), store.ErrWrongKey)
}

// TestMergeRemembered: a remembered login made offline is allowed and
// written back beside etcd's; a drop in etcd meanwhile (forget, a
// lockout, a re-enrollment) wins over it; a lock from the summed
// failures drops them all.
func TestMergeRemembered(t *testing.T) {
	rem := func(k string, m int) store.Remembered {
		at := t0.Add(time.Duration(m) * time.Minute)
		return store.Remembered{Key: k, At: at, Until: at.Add(time.Hour)}
	}
	// Offline: a login's new entry is a login's change; so is a drop.
	prev := enrolled("alice")
	prev.Copy = &store.ClusterCopy{Rev: 42}
	next := prev
	next.LastStep, next.LastSuccess = 101, t0.Add(2*time.Minute)
	next.Remembered = []store.Remembered{rem("k-offline", 2)}
	c, err := offlineChanges(prev, true, next)
	require.NoError(t, err, "a remembered login made offline is allowed")
	require.True(t, c.Offline.Accepted)
	next.Copy = c
	forgot := next
	forgot.Remembered, forgot.ForgetBefore = nil, t0.Add(3*time.Minute)
	_, err = offlineChanges(next, true, forgot)
	require.NoError(t, err, "forget only drops: allowed offline")

	local := next
	t.Run("united", func(t *testing.T) {
		remote := enrolled("alice")
		remote.Remembered = []store.Remembered{rem("k-online", 1)}
		out, write := merge(remote, true, local, nil)
		require.True(t, write)
		require.Equal(t, []store.Remembered{rem("k-online", 1), rem("k-offline", 2)}, out.Remembered)
	})
	t.Run("forget in etcd meanwhile wins", func(t *testing.T) {
		remote := enrolled("alice")
		remote.ForgetBefore = t0.Add(5 * time.Minute) // after the offline login
		out, write := merge(remote, true, local, nil)
		require.True(t, write)
		require.Empty(t, out.Remembered)
		require.Equal(t, remote.ForgetBefore, out.ForgetBefore)
	})
	t.Run("forget offline holds", func(t *testing.T) {
		remote := enrolled("alice")
		remote.Remembered = []store.Remembered{rem("k-online", 1)}
		l := forgot
		l.Copy = c
		out, _ := merge(remote, true, l, nil)
		require.Empty(t, out.Remembered, "the offline drop voids etcd's older entry")
	})
	t.Run("lock in etcd meanwhile wins", func(t *testing.T) {
		remote := enrolled("alice")
		remote.LockedUntil = t0.Add(time.Hour) // and its ForgetBefore at an earlier minute
		out, _ := merge(remote, true, local, nil)
		require.Empty(t, out.Remembered)
	})
	t.Run("locked by the sum", func(t *testing.T) {
		cfg := config.Default()
		e := engine.New(cfg, nil, engine.Options{Now: func() time.Time { return t0.Add(10 * time.Minute) }})
		l := local
		l.Failures = 3
		l.Copy = &store.ClusterCopy{Rev: 42, Offline: &store.OfflineChanges{ID: "wb9", EnrolledAt: t0, Accepted: true, Failures: 3}}
		remote := enrolled("alice")
		remote.Failures = 2
		out, write := merge(remote, true, l, e.AddFailures)
		require.True(t, write)
		require.False(t, out.LockedUntil.IsZero())
		require.Empty(t, out.Remembered)
	})
	t.Run("re-enrolled meanwhile wins", func(t *testing.T) {
		remote := enrolled("alice")
		remote.EnrolledAt = t0.Add(time.Hour)
		out, write := merge(remote, true, local, nil)
		require.False(t, write)
		require.Empty(t, out.Remembered)
	})
}
