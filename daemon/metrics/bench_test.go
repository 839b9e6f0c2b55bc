package metrics

import (
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
)

// BenchmarkText10kUsers is one exposition with 10,000 enrolled users in a
// real store: what every metrics_file write and `totpctl metrics` costs,
// nearly all of it counting the users (engine.CountUsers). Run with
// `go test -run X -bench Text10k ./daemon/metrics/`; the figure is in
// ARCHITECTURE.md, "Where each rule lives".
func BenchmarkText10kUsers(b *testing.B) {
	const n = 10000
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	st, err := store.Open(b.TempDir(), key, store.Options{Logf: b.Logf})
	require.NoError(b, err)
	defer st.Close()
	acct := &accounts{uids: map[string]uint32{}}
	secret := make([]byte, 20)
	_, _ = rand.Read(secret)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 64 { // concurrent Puts share fdatasyncs (group commit)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				uid := uint32(10000 + i)
				name := fmt.Sprintf("user%05d", i)
				err := st.Put(store.Record{User: name, UID: &uid, Secret: secret, Algorithm: "SHA1", Digits: 6, PeriodSec: 30,
					LastStep: time.Now().Unix() / 30, RecoveryHashes: []string{"0123456789abcdef0123456789abcdef"}})
				if err != nil {
					panic(err)
				}
			}
		}()
	}
	for i := range n {
		uid := uint32(10000 + i)
		acct.uids[fmt.Sprintf("user%05d", i)] = uid
		work <- i
	}
	close(work)
	wg.Wait()
	cfg := config.Default()
	cfg.Policy.Require = config.RequireAll
	e := engine.New(cfg, engine.Local(st), engine.Options{Accounts: acct, Logf: b.Logf})
	r := New()
	r.SetUsers(e.CountUsers)
	b.ResetTimer()
	for range b.N {
		text, err := r.Text()
		if err != nil {
			b.Fatal(err)
		}
		if len(text) == 0 {
			b.Fatal("no text")
		}
	}
	b.StopTimer()
	c, err := e.CountUsers()
	require.NoError(b, err)
	require.Equal(b, n, c.Enrolled)
}
