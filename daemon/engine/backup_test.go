package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/store"
)

// TestRaise: a restored record refuses every step up to now; with the
// same enrollment still in the current state, that state's later step and
// spent recovery codes win; with another enrollment (or another uid)
// nothing of the current state is taken.
func TestRaise(t *testing.T) {
	now := time.Unix(1800000000, 0)
	nowStep := now.Unix() / 30
	uid, other := uint32(1001), uint32(2002)
	backup := func() store.Record {
		return store.Record{User: "alice", UID: &uid, Secret: []byte("s1"), PeriodSec: 30, LastStep: 10, RecoveryHashes: []string{"a", "b", "c"}}
	}

	r := backup()
	raise(&r, store.Record{}, false, now)
	require.Equal(t, nowStep, r.LastStep, "no current state: raised to now")
	require.Equal(t, []string{"a", "b", "c"}, r.RecoveryHashes)

	r = backup()
	raise(&r, store.Record{User: "alice", UID: &uid, Secret: []byte("s1"), LastStep: nowStep + 1, RecoveryHashes: []string{"a", "c"}}, true, now)
	require.Equal(t, nowStep+1, r.LastStep, "a step used just now, ahead of the clock, stays used")
	require.Equal(t, []string{"a", "c"}, r.RecoveryHashes, "a recovery code spent since the backup stays spent")

	// The same enrollment, the backup's record from before uids were
	// kept: nothing learnt since is forgotten, the lockout included.
	r = backup()
	r.UID = nil
	locked := now.Add(time.Hour)
	raise(&r, store.Record{User: "alice", UID: &uid, Secret: []byte("s1"), LastStep: nowStep + 2, RecoveryHashes: []string{"a", "c"},
		Failures: 4, LockedUntil: locked, LockedForever: true}, true, now)
	require.Equal(t, nowStep+2, r.LastStep)
	require.Equal(t, []string{"a", "c"}, r.RecoveryHashes, "a record without a uid is still the same enrollment")
	require.Equal(t, 4, r.Failures, "a guesser's count is not reset")
	require.Equal(t, locked, r.LockedUntil, "a restore unlocks nobody")
	require.True(t, r.LockedForever)

	for _, live := range []store.Record{
		{User: "alice", UID: &uid, Secret: []byte("s2"), LastStep: nowStep + 1},   // re-enrolled since
		{User: "alice", UID: &other, Secret: []byte("s1"), LastStep: nowStep + 1}, // another account
	} {
		r = backup()
		raise(&r, live, true, now)
		require.Equal(t, nowStep, r.LastStep)
		require.Equal(t, []string{"a", "b", "c"}, r.RecoveryHashes)
	}
}
