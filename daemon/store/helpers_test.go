package store

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, 32)
	_, err := rand.Read(k)
	require.NoError(t, err)
	return k
}

// testLog returns a Logf that goes to t.Log while the test runs.
func testLog(t testing.TB) func(string, ...any) {
	return func(f string, a ...any) { t.Logf(f, a...) }
}

func openT(t testing.TB, dir string, key []byte, opts Options) *Store {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = testLog(t)
	}
	s, err := Open(dir, key, opts)
	require.NoError(t, err)
	return s
}

// testRecord makes a record whose content depends on user and v.
func testRecord(user string, v int) Record {
	return Record{
		User:           user,
		Secret:         []byte("secret of " + user),
		Algorithm:      "SHA1",
		Digits:         6,
		PeriodSec:      30,
		EnrolledAt:     time.Unix(1700000000, 0).UTC(),
		LastStep:       int64(v),
		DriftSteps:     v % 3,
		Failures:       v % 7,
		LastSuccess:    time.Unix(1700000000+int64(v), 0).UTC(),
		RecoveryHashes: []string{fmt.Sprintf("hash-%d-a", v), fmt.Sprintf("hash-%d-b", v)},
	}
}

// requireRecord checks that user has exactly testRecord(user, v).
func requireRecord(t testing.TB, s *Store, user string, v int) {
	t.Helper()
	got, ok, err := s.Get(user)
	require.NoError(t, err, "user %s", user)
	require.True(t, ok, "user %s missing", user)
	want := testRecord(user, v)
	require.NotZero(t, got.Seq)
	want.Seq = got.Seq
	require.Equal(t, want, got, "user %s", user)
}

// journalFiles lists the journal files in dir, oldest first.
func journalFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, journalPrefix+"*"))
	require.NoError(t, err)
	sort.Strings(m)
	return m
}

// copyDir copies a state directory (regular files and dirs only).
func copyDir(t testing.TB, src, dst string) {
	t.Helper()
	require.NoError(t, os.CopyFS(dst, os.DirFS(src)))
	require.NoError(t, filepath.Walk(dst, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o700)
		}
		return os.Chmod(p, 0o600)
	}))
}

// latencies collects durations and reports percentiles.
type latencies []time.Duration

func (l latencies) percentile(p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func (l latencies) report(b *testing.B) {
	b.ReportMetric(float64(l.percentile(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(l.percentile(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(l.percentile(1).Microseconds())/1000, "max-ms")
}

// errContains checks err and that its message names every part.
func errContains(t testing.TB, err error, parts ...string) {
	t.Helper()
	require.Error(t, err)
	for _, p := range parts {
		require.True(t, strings.Contains(err.Error(), p), "error %q does not mention %q", err, p)
	}
}

func closeFD(fd int)           { _ = unix.Close(fd) }
func fsyncFD(fd int) error     { return unix.Fsync(fd) }
func fdatasyncFD(fd int) error { return unix.Fdatasync(fd) }
