package store

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// backupTo writes s's backup to a new file in dir and returns its path.
func backupTo(t testing.TB, s *Store, dir string) (string, BackupInfo) {
	t.Helper()
	path := filepath.Join(dir, fmt.Sprintf("backup-%d", time.Now().UnixNano()))
	f, err := CreateBackupFile(path)
	require.NoError(t, err)
	defer f.Close()
	info, err := s.Backup(f, "host-a", time.Unix(1800000000, 0))
	require.NoError(t, err)
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, info.Bytes, st.Size())
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	return path, info
}

// readBackupFile is ReadBackup of the file at path.
func readBackupFile(s *Store, path string) (*Backup, error) {
	f, err := OpenBackupFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return s.ReadBackup(f)
}

// TestBackupRoundTrip: a backup holds every user's latest record, whether
// it lives in the journal or in a snapshot file, and no deleted user;
// Replace makes it the whole state of another store (its own users gone),
// durably, across a crash and a clean close alike.
func TestBackupRoundTrip(t *testing.T) {
	key := newKey(t)
	a := openT(t, t.TempDir(), key, Options{})
	for i := range 20 {
		require.NoError(t, a.Put(testRecord(fmt.Sprintf("old%02d", i), i)))
	}
	require.NoError(t, a.rotate())
	require.NoError(t, a.checkpoint()) // old* now live in users/
	for i := range 10 {
		require.NoError(t, a.Put(testRecord(fmt.Sprintf("new%02d", i), 100+i)))
	}
	require.NoError(t, a.Put(testRecord("old03", 203))) // newer in the journal than in users/
	require.NoError(t, a.Delete("old05"))
	require.NoError(t, a.Delete("new09"))
	path, info := backupTo(t, a, t.TempDir())
	require.Equal(t, 28, info.Users)
	require.NoError(t, a.Close())

	bdir := t.TempDir()
	b := openT(t, bdir, key, Options{KeySource: "/etc/totpd/master.key"})
	require.NoError(t, b.Put(testRecord("bonly", 1)))
	require.NoError(t, b.Put(testRecord("old01", 999)))
	bk, err := readBackupFile(b, path)
	require.NoError(t, err)
	require.Equal(t, "host-a", bk.Info.Host)
	require.True(t, bk.Info.Created.Equal(time.Unix(1800000000, 0)))
	require.Len(t, bk.Records, 28)
	require.NoError(t, b.Replace(bk.Records))

	check := func(s *Store) {
		t.Helper()
		users, err := s.Users()
		require.NoError(t, err)
		users = slices.DeleteFunc(users, func(u string) bool { return u == "after" })
		require.Len(t, users, 28)
		require.NotContains(t, users, "bonly", "a user the backup does not hold is gone")
		require.NotContains(t, users, "old05")
		require.NotContains(t, users, "new09")
		for i := range 20 {
			switch i {
			case 3:
				requireRecord(t, s, "old03", 203)
			case 5:
			default:
				requireRecord(t, s, fmt.Sprintf("old%02d", i), i)
			}
		}
		for i := range 9 {
			requireRecord(t, s, fmt.Sprintf("new%02d", i), 100+i)
		}
		_, ok, err := s.Get("bonly")
		require.NoError(t, err)
		require.False(t, ok)
	}
	check(b)
	require.NoError(t, b.Put(testRecord("after", 7)), "Puts go on after a Replace")
	b.abandon() // as a crash leaves it
	b = openT(t, bdir, key, Options{})
	check(b)
	requireRecord(t, b, "after", 7)
	require.NoError(t, b.Close())
	b = openT(t, bdir, key, Options{})
	check(b)
	require.Len(t, journalFiles(t, bdir), 1, "the old journal was folded into snapshots and removed")
	require.NoError(t, b.Close())
}

// TestBackupWrongKey: a store with another master key refuses the backup
// with ErrBackupKey and a message that says so, names the key's place and
// what to do; its own state is untouched.
func TestBackupWrongKey(t *testing.T) {
	a := openT(t, t.TempDir(), newKey(t), Options{})
	require.NoError(t, a.Put(testRecord("alice", 1)))
	path, _ := backupTo(t, a, t.TempDir())
	require.NoError(t, a.Close())

	b := openT(t, t.TempDir(), newKey(t), Options{KeySource: "/etc/totpd/master.key"})
	defer b.Close()
	require.NoError(t, b.Put(testRecord("bob", 2)))
	_, err := readBackupFile(b, path)
	require.ErrorIs(t, err, ErrBackupKey)
	require.NotErrorIs(t, err, ErrBadBackup)
	errContains(t, err, "another master key", "/etc/totpd/master.key", "host-a", "the key it was made with")
	requireRecord(t, b, "bob", 2)
}

// TestBackupTampered: a change of any one byte of a backup, anywhere, is
// refused as not a valid backup (or, in the key check alone, as altered).
func TestBackupTampered(t *testing.T) {
	s := openT(t, t.TempDir(), newKey(t), Options{})
	defer s.Close()
	for i := range 3 {
		require.NoError(t, s.Put(testRecord(fmt.Sprintf("u%d", i), i)))
	}
	path, _ := backupTo(t, s, t.TempDir())
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	_, err = s.ReadBackup(bytes.NewReader(good))
	require.NoError(t, err)
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x01
		b, err := s.ReadBackup(bytes.NewReader(bad))
		require.Nil(t, b, "byte %d", i)
		require.ErrorIs(t, err, ErrBadBackup, "byte %d", i)
	}
	// Records swapped between two backups of the same store, or one
	// appended: refused too.
	path2, _ := backupTo(t, s, t.TempDir())
	other, err := os.ReadFile(path2)
	require.NoError(t, err)
	require.Equal(t, len(good), len(other))
	spliced := append(bytes.Clone(good[:len(good)/2]), other[len(good)/2:]...)
	_, err = s.ReadBackup(bytes.NewReader(spliced))
	require.ErrorIs(t, err, ErrBadBackup)
	_, err = s.ReadBackup(bytes.NewReader(append(bytes.Clone(good), 0)))
	require.ErrorIs(t, err, ErrBadBackup)
	errContains(t, err, "bytes after its last record")
	_, err = s.ReadBackup(strings.NewReader("not a backup at all, just some text"))
	require.ErrorIs(t, err, ErrBadBackup)
}

// TestBackupTruncated: every prefix of a backup is refused, and one cut
// among its records says it is truncated.
func TestBackupTruncated(t *testing.T) {
	s := openT(t, t.TempDir(), newKey(t), Options{})
	defer s.Close()
	for i := range 3 {
		require.NoError(t, s.Put(testRecord(fmt.Sprintf("u%d", i), i)))
	}
	path, _ := backupTo(t, s, t.TempDir())
	good, err := os.ReadFile(path)
	require.NoError(t, err)
	for n := range len(good) {
		_, err := s.ReadBackup(bytes.NewReader(good[:n]))
		require.ErrorIs(t, err, ErrBadBackup, "first %d bytes", n)
	}
	_, err = s.ReadBackup(bytes.NewReader(good[:len(good)-10]))
	errContains(t, err, "2 of its 3 records", "truncated")
}

// TestBackupFileRules: FILE is never written through a symbolic link nor
// over an existing file, and a restore never reads through a link or from
// a FIFO; what the daemon is handed must be a regular file, empty and
// writable for a backup.
func TestBackupFileRules(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	require.NoError(t, os.WriteFile(target, []byte("precious"), 0o600))
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(target, link))
	dangling := filepath.Join(dir, "dangling")
	require.NoError(t, os.Symlink(filepath.Join(dir, "nowhere"), dangling))

	for _, p := range []string{link, dangling, target} {
		_, err := CreateBackupFile(p)
		errContains(t, err, p, "exists already")
	}
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "precious", string(got), "nothing written through the link")
	_, err = os.Lstat(filepath.Join(dir, "nowhere"))
	require.ErrorIs(t, err, os.ErrNotExist, "nothing created through the dangling link")

	_, err = OpenBackupFile(link)
	errContains(t, err, "symbolic link")
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, mkfifo(fifo))
	_, err = OpenBackupFile(fifo) // would block forever if it were waited on
	errContains(t, err, "FIFO")
	_, err = OpenBackupFile(dir)
	errContains(t, err, "directory")

	ro, err := os.Open(target)
	require.NoError(t, err)
	defer ro.Close()
	errContains(t, CheckBackupFile(ro, true), "not open for writing")
	rw, err := os.OpenFile(target, os.O_RDWR, 0)
	require.NoError(t, err)
	defer rw.Close()
	errContains(t, CheckBackupFile(rw, true), "not empty")
	require.NoError(t, CheckBackupFile(rw, false))
}

// TestBackupPointInTime: a backup taken while Puts go on (and checkpoints
// move records into snapshot files) is one instant's state. One writer
// puts round r to c0, c1, ... c9 in that order, each durable before the
// next: at any instant c0 is at most one round ahead of c9 and never
// behind any later one, so a backup must show c0 ≥ c1 ≥ … ≥ c9 ≥ c0-1.
// Other writers keep Puts of their own users going, and none of them may
// wait long for the backup.
func TestBackupPointInTime(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, newKey(t), Options{CheckpointBytes: 64 << 10})
	defer s.Close()
	const chain = 10
	for i := range chain {
		require.NoError(t, s.Put(testRecord(fmt.Sprintf("c%d", i), 0)))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for r := 1; !stop.Load(); r++ {
			for i := range chain {
				if err := s.Put(testRecord(fmt.Sprintf("c%d", i), r)); err != nil {
					t.Error(err)
					return
				}
			}
		}
	}()
	var mu sync.Mutex
	var worst time.Duration
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 0; !stop.Load(); v++ {
				start := time.Now()
				if err := s.Put(testRecord(fmt.Sprintf("w%d-%d", w, v%50), v)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				worst = max(worst, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	bdir := t.TempDir()
	for range 5 {
		path, _ := backupTo(t, s, bdir)
		b, err := readBackupFile(s, path)
		require.NoError(t, err)
		v := map[string]int64{}
		for _, r := range b.Records {
			v[r.User] = r.LastStep
		}
		for i := 1; i < chain; i++ {
			require.GreaterOrEqual(t, v[fmt.Sprintf("c%d", i-1)], v[fmt.Sprintf("c%d", i)], "c%d is never behind c%d", i-1, i)
		}
		require.LessOrEqual(t, v["c0"]-v[fmt.Sprintf("c%d", chain-1)], int64(1), "c0 at most one round ahead")
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("slowest Put while backups ran: %v", worst)
}

// TestReplaceUnderLoad: Replace of many users while other users' Puts go
// on: those Puts keep working and their records survive, and the longest
// any of them waited is reported (the pause of the rename).
func TestReplaceUnderLoad(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s := openT(t, dir, key, Options{})
	const n = 2000 // 10,000 takes 0.15-0.6 s here, and the checkpoint after it 15 s
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = testRecord(fmt.Sprintf("r%05d", i), i)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var lat latencies
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 0; !stop.Load(); v++ {
				start := time.Now()
				if err := s.Put(testRecord(fmt.Sprintf("w%d", w), v)); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				lat = append(lat, time.Since(start))
				mu.Unlock()
			}
		}()
	}
	for { // some Puts before the Replace, so that it runs under load
		mu.Lock()
		warm := len(lat) >= 50
		mu.Unlock()
		if warm {
			break
		}
		runtime.Gosched()
	}
	start := time.Now()
	require.NoError(t, s.Replace(recs))
	took := time.Since(start)
	stop.Store(true)
	wg.Wait()
	requireRecord(t, s, "r00042", 42)
	for w := range 4 {
		_, ok, err := s.Get(fmt.Sprintf("w%d", w))
		require.NoError(t, err)
		require.True(t, ok, "a user written during the Replace keeps its record")
	}
	t.Logf("Replace of %d users took %v; Puts meanwhile: %d, p50 %v, p99 %v, max %v",
		n, took, len(lat), lat.percentile(0.5), lat.percentile(0.99), lat.percentile(1))
	require.NoError(t, s.Close())
	s = openT(t, dir, key, Options{})
	defer s.Close()
	requireRecord(t, s, "r01999", 1999)
}

// TestReplaceInterrupted: a restore that stopped before its rename (its
// temporary journal left behind) leaves the old state whole.
func TestReplaceInterrupted(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	s := openT(t, dir, key, Options{})
	require.NoError(t, s.Put(testRecord("alice", 1)))
	// What Replace writes before the rename, planted as a crash would leave it.
	planted := filepath.Join(dir, tmpPrefix+"journal-restore-0123456789abcdef")
	require.NoError(t, os.WriteFile(planted, encodeJournalHeader(9, 100), 0o600))
	s.abandon()
	s = openT(t, dir, key, Options{})
	defer s.Close()
	requireRecord(t, s, "alice", 1)
	_, err := os.Stat(planted)
	require.True(t, errors.Is(err, os.ErrNotExist), "the unfinished restore is removed at Open")
}

func mkfifo(path string) error { return unix.Mkfifo(path, 0o600) }
