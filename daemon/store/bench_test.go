package store

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks report durable Puts per second and latency percentiles:
//
//	go test -run '^$' -bench . -benchtime 3s ./daemon/store/
//
// The state directory is under $TMPDIR (set TMPDIR to measure another
// disk).

func benchStore(b *testing.B) *Store {
	s, err := Open(b.TempDir(), newKey(b), Options{Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.abandon() })
	return s
}

// BenchmarkPutParallel: many goroutines, each Putting its own users, as
// the daemon's connections do for distinct users.
func BenchmarkPutParallel(b *testing.B) {
	for _, g := range []int{50, 200} {
		b.Run(fmt.Sprintf("goroutines=%d", g), func(b *testing.B) {
			s := benchStore(b)
			procs := runtime.GOMAXPROCS(0)
			b.SetParallelism((g + procs - 1) / procs)
			var (
				id  atomic.Int64
				mu  sync.Mutex
				all latencies
			)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				me := id.Add(1)
				var lat latencies
				for i := 0; pb.Next(); i++ {
					r := testRecord(fmt.Sprintf("g%d-u%d", me, i%4), i)
					t0 := time.Now()
					if err := s.Put(r); err != nil {
						b.Error(err)
						return
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			})
			el := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/el.Seconds(), "puts/s")
			all.report(b)
		})
	}
}

// BenchmarkPutSerial: one Put at a time, the latency of a lone update.
func BenchmarkPutSerial(b *testing.B) {
	s := benchStore(b)
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := testRecord(fmt.Sprintf("u%d", i%100), i)
		t0 := time.Now()
		if err := s.Put(r); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkPutAtRate: an open-loop load of a fixed number of Puts per
// second for distinct users (each op is one scheduled Put), latency
// measured per Put. The product's goal is p99 ≤ 5 ms at 500/s.
func BenchmarkPutAtRate(b *testing.B) {
	for _, rate := range []int{500, 2000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			s := benchStore(b)
			putAtRate(b, s, rate, b.N, 5000)
		})
	}
}

// putAtRate issues n Puts at rate per second over users distinct users and
// reports the latencies.
func putAtRate(b *testing.B, s *Store, rate, n, users int) {
	interval := time.Second / time.Duration(rate)
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		lat       = make(latencies, 0, n)
		inCkpt    latencies // the Puts that started while a checkpoint ran
		notInCkpt latencies
	)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			ck := s.ckptRunning.Load()
			if err := s.Put(testRecord(fmt.Sprintf("user%05d", i%users), i)); err != nil {
				b.Error(err)
			}
			d := time.Since(t0)
			mu.Lock()
			lat = append(lat, d)
			if ck {
				inCkpt = append(inCkpt, d)
			} else {
				notInCkpt = append(notInCkpt, d)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "puts/s")
	lat.report(b)
	if len(inCkpt) > 0 {
		b.ReportMetric(float64(len(inCkpt))/float64(n)*100, "%-during-checkpoint")
		b.ReportMetric(float64(inCkpt.percentile(0.99).Microseconds())/1000, "p99-during-checkpoint-ms")
		b.ReportMetric(float64(notInCkpt.percentile(0.99).Microseconds())/1000, "p99-otherwise-ms")
	}
}

// BenchmarkPutAt500DuringCheckpoint: the same 500/s load while a
// checkpoint writes 10,000 snapshot files (the worst case: every user
// changed since the last checkpoint).
func BenchmarkPutAt500DuringCheckpoint(b *testing.B) {
	dirs, key := makeBigState(b)
	for _, workers := range []int{2, 8} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			dir := b.TempDir()
			if err := os.CopyFS(dir+"/s", os.DirFS(dirs["journal"])); err != nil {
				b.Fatal(err)
			}
			s, err := Open(dir+"/s", key, Options{Logf: func(string, ...any) {}, CheckpointWorkers: workers})
			if err != nil {
				b.Fatal(err)
			}
			defer s.abandon()
			if err := s.rotate(); err != nil {
				b.Fatal(err)
			}
			t0 := time.Now()
			var ckpt time.Duration
			done := make(chan struct{})
			go func() {
				defer close(done)
				if err := s.checkpoint(); err != nil {
					b.Error(err)
				}
				ckpt = time.Since(t0)
			}()
			putAtRate(b, s, 500, 1500, benchUsers)
			<-done
			b.ReportMetric(float64(ckpt.Milliseconds()), "checkpoint-ms")
		})
	}
}

// BenchmarkGet reads records from snapshot files and from the journal.
func BenchmarkGet(b *testing.B) {
	s := benchStore(b)
	for i := range 100 {
		if err := s.Put(testRecord(fmt.Sprintf("u%d", i), i)); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, _, err := s.Get(fmt.Sprintf("u%d", i%100)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

const benchUsers = 10_000

var (
	bigStateOnce sync.Once
	bigState     map[string]string // layout → dir
	bigKey       []byte
	bigErr       error
	bigRoot      string
)

// makeBigState builds, once per run, state dirs with 10,000 users:
// "snapshots" (all checkpointed, as after a clean stop) and "journal"
// (snapshots plus one newer journal record for each user, as after a
// crash with a full journal).
func makeBigState(b *testing.B) (map[string]string, []byte) {
	bigStateOnce.Do(func() {
		bigRoot, bigErr = os.MkdirTemp("", "totpd-store-bench-")
		if bigErr != nil {
			return
		}
		bigKey = newKey(b)
		bigState = map[string]string{}
		put := func(s *Store, v int) error {
			var wg sync.WaitGroup
			errs := make(chan error, 100)
			for w := range 100 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < benchUsers; i += 100 {
						if err := s.Put(testRecord(fmt.Sprintf("user%05d", i), v)); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			return <-errs
		}
		quiet := Options{Logf: func(string, ...any) {}, CheckpointBytes: 64 << 20, CheckpointWorkers: 32}
		snap := bigRoot + "/snapshots"
		s, err := Open(snap, bigKey, quiet)
		if err == nil {
			err = put(s, 1)
		}
		if err == nil {
			err = s.Close()
		}
		if err != nil {
			bigErr = err
			return
		}
		jour := bigRoot + "/journal"
		if err := os.CopyFS(jour, os.DirFS(snap)); err != nil {
			bigErr = err
			return
		}
		s, err = Open(jour, bigKey, quiet)
		if err == nil {
			err = put(s, 2)
		}
		if err != nil {
			bigErr = err
			return
		}
		s.abandon()
		bigState["snapshots"], bigState["journal"] = snap, jour
	})
	if bigErr != nil {
		b.Fatal(bigErr)
	}
	return bigState, bigKey
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bigRoot != "" {
		os.RemoveAll(bigRoot)
	}
	os.Exit(code)
}

func rssKiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return n
		}
	}
	return 0
}

// BenchmarkOpen10kUsers: time to Open a state dir with 10,000 users and
// the heap the open store holds.
func BenchmarkOpen10kUsers(b *testing.B) {
	dirs, key := makeBigState(b)
	for _, layout := range []string{"snapshots", "journal"} {
		b.Run(layout, func(b *testing.B) {
			dir := dirs[layout]
			var (
				ms0, ms1 runtime.MemStats
				total    time.Duration
				heap     float64
			)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				runtime.GC()
				runtime.ReadMemStats(&ms0)
				t0 := time.Now()
				s, err := Open(dir, key, Options{Logf: func(string, ...any) {}})
				if err != nil {
					b.Fatal(err)
				}
				total += time.Since(t0)
				// A first Get (the daemon's first request) is part of ready.
				if _, ok, err := s.Get("user00042"); err != nil || !ok {
					b.Fatal(err, ok)
				}
				runtime.GC()
				runtime.ReadMemStats(&ms1)
				heap = float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / (1 << 20)
				s.abandon()
			}
			b.StopTimer()
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "open-ms")
			b.ReportMetric(heap, "store-heap-MiB")
			b.ReportMetric(rssKiB()/1024, "process-RSS-MiB")
			users := 0
			if s, err := Open(dir, key, Options{Logf: func(string, ...any) {}}); err == nil {
				u, _ := s.Users()
				users = len(u)
				s.abandon()
			}
			if users != benchUsers {
				b.Fatalf("%d users, want %d", users, benchUsers)
			}
		})
	}
}

// BenchmarkBaselineReplace is the anchor of ARCHITECTURE.md, "Numbers": one crash-safe
// file replace with two fsyncs (file, directory), serial. It bounds a
// file-per-Put design at 1/latency.
func BenchmarkBaselineReplace(b *testing.B) {
	dir := b.TempDir()
	dfd, err := openStateDir(dir, func(string, ...any) {})
	if err != nil {
		b.Fatal(err)
	}
	defer closeFD(dfd)
	data := make([]byte, 400)
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := writeFileAt(dfd, dir, "u", data); err != nil {
			b.Fatal(err)
		}
		if err := fsyncFD(dfd); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	lat.report(b)
}

// BenchmarkBaselineAppend: one 400-byte append and fdatasync, serial: the
// floor under a single Put.
func BenchmarkBaselineAppend(b *testing.B) {
	f, err := os.Create(b.TempDir() + "/j")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	data := make([]byte, 400)
	lat := make(latencies, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := fdatasyncFD(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	lat.report(b)
}
