package store

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Options.SyncObserver hears one duration per journal fdatasync: one per
// batch, so sequential Puts are one each, and a Put that returned was
// observed before its answer.
func TestSyncObserver(t *testing.T) {
	var mu sync.Mutex
	var seen []time.Duration
	s := openT(t, t.TempDir(), newKey(t), Options{Logf: testLog(t), SyncObserver: func(d time.Duration) {
		mu.Lock()
		seen = append(seen, d)
		mu.Unlock()
	}})
	t.Cleanup(func() { s.Close() })
	for i := range 3 {
		require.NoError(t, s.Put(Record{User: "alice", LastStep: int64(i)}))
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		require.Equal(t, i+1, n, "one fdatasync per sequential Put, observed before Put returns")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range seen {
		require.Greater(t, d, time.Duration(0))
		require.Less(t, d, 10*time.Second)
	}
}
