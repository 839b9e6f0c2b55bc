package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, newKey(t), Options{})
	defer s.Close()

	_, ok, err := s.Get("alice")
	require.NoError(t, err)
	require.False(t, ok, "a user never stored does not exist")

	full := testRecord("alice", 41)
	full.LockedUntil = full.EnrolledAt.Add(900e9)
	full.LockedForever = true
	full.FirstRequired = full.EnrolledAt
	full.Override = "require"
	full.OverrideGraceSec = 3600
	full.Pending = &Pending{Secret: []byte("pending"), Algorithm: "SHA256", Digits: 8, PeriodSec: 60, CreatedAt: full.EnrolledAt}
	full.Seq = 12345 // ignored: the store assigns it
	require.NoError(t, s.Put(full))

	got, ok, err := s.Get("alice")
	require.NoError(t, err)
	require.True(t, ok)
	require.NotEqual(t, uint64(12345), got.Seq)
	full.Seq = got.Seq
	require.Equal(t, full, got)

	// Seq is bumped on each Put.
	require.NoError(t, s.Put(got))
	again, _, err := s.Get("alice")
	require.NoError(t, err)
	require.Greater(t, again.Seq, got.Seq)

	// Nothing of the record is stored in clear text.
	require.NoError(t, s.Close())
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NotContains(t, string(b), "secret of alice", p)
			require.NotContains(t, string(b), "hash-41", p)
		}
		return nil
	}))
}

func TestInvalidUserNames(t *testing.T) {
	s := openT(t, t.TempDir(), newKey(t), Options{})
	defer s.Close()
	for _, name := range []string{
		"", "/", "a/b", ".", "..", ".hidden", "-rf", "a\x00b", "a\nb", "tab\tname", "del\x7f",
		strings.Repeat("a", 256), strings.Repeat("é", 200), "\xff\xfe", "../etc/passwd",
	} {
		short := name
		if len(short) > 64 {
			short = short[:64] + "…"
		}
		t.Run(fmt.Sprintf("%q", short), func(t *testing.T) {
			require.ErrorIs(t, s.Put(testRecord(name, 1)), ErrInvalidUser)
			_, _, err := s.Get(name)
			require.ErrorIs(t, err, ErrInvalidUser)
			require.ErrorIs(t, s.Delete(name), ErrInvalidUser)
		})
	}
	for _, name := range []string{"alice", "a.b-c_d", "user@example.com", "DOMAIN\\bob", strings.Repeat("a", 255), "Ünïcødé", "a-", "1000"} {
		require.NoError(t, ValidUser(name), name)
		require.NoError(t, s.Put(testRecord(name, 3)), name)
		requireRecord(t, s, name, 3)
	}
}

func TestPersistence(t *testing.T) {
	tests := []struct {
		name  string
		close func(t *testing.T, s *Store)
	}{
		{"Close", func(t *testing.T, s *Store) { require.NoError(t, s.Close()) }},
		{"crash", func(t *testing.T, s *Store) { s.abandon() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, key := t.TempDir(), newKey(t)
			s := openT(t, dir, key, Options{})
			for i := range 20 {
				require.NoError(t, s.Put(testRecord(fmt.Sprintf("user%02d", i), i)))
			}
			require.NoError(t, s.Put(testRecord("user03", 300)))
			require.NoError(t, s.Delete("user05"))
			require.NoError(t, s.Delete("nobody"))
			seq := s.seq.Load()
			tc.close(t, s)

			for round := range 3 {
				s = openT(t, dir, key, Options{})
				require.GreaterOrEqual(t, s.seq.Load(), seq, "the sequence never goes back")
				for i := range 20 {
					u := fmt.Sprintf("user%02d", i)
					switch i {
					case 3:
						requireRecord(t, s, u, 300)
					case 5:
						_, ok, err := s.Get(u)
						require.NoError(t, err)
						require.False(t, ok)
					default:
						requireRecord(t, s, u, i)
					}
				}
				users, err := s.Users()
				require.NoError(t, err)
				require.Len(t, users, 19+min(round, 1))
				require.NotContains(t, users, "user05")
				require.Contains(t, users, "user00")
				require.NoError(t, s.Put(testRecord("extra", round)))
				seq = s.seq.Load()
				tc.close(t, s)
			}
		})
	}
}

func TestCloseCheckpointsAndResetsJournal(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := openT(t, dir, key, Options{})
	for i := range 10 {
		require.NoError(t, s.Put(testRecord(fmt.Sprintf("u%d", i), i)))
	}
	require.NoError(t, s.Delete("u9"))
	require.NoError(t, s.Close())
	require.ErrorIs(t, s.Close(), ErrClosed)
	_, _, err := s.Get("u1")
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, s.Put(testRecord("u1", 1)), ErrClosed)

	js := journalFiles(t, dir)
	require.Len(t, js, 1)
	fi, err := os.Stat(js[0])
	require.NoError(t, err)
	require.EqualValues(t, journalHdrSize, fi.Size(), "the journal is empty after a checkpoint")
	names, err := os.ReadDir(filepath.Join(dir, usersDirName))
	require.NoError(t, err)
	require.Len(t, names, 9, "one snapshot per user, none for the deleted one")

	// Reopened, everything comes from the snapshots.
	s = openT(t, dir, key, Options{})
	defer s.Close()
	require.Empty(t, s.index)
	for i := range 9 {
		requireRecord(t, s, fmt.Sprintf("u%d", i), i)
	}
	_, ok, err := s.Get("u9")
	require.NoError(t, err)
	require.False(t, ok)
	// A later Put supersedes the snapshot, and Delete hides it.
	require.NoError(t, s.Put(testRecord("u1", 100)))
	requireRecord(t, s, "u1", 100)
	require.NoError(t, s.Delete("u2"))
	_, ok, err = s.Get("u2")
	require.NoError(t, err)
	require.False(t, ok)
	users, err := s.Users()
	require.NoError(t, err)
	require.Equal(t, []string{"u0", "u1", "u3", "u4", "u5", "u6", "u7", "u8"}, users)
}

func TestBackgroundCheckpoint(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	opts := Options{CheckpointBytes: 8 << 10}
	s := openT(t, dir, key, opts)
	want := map[string]int{}
	var maxSeq uint64
	for round := range 10 {
		for u := range 40 {
			user := fmt.Sprintf("user%d", u)
			v := round*100 + u
			require.NoError(t, s.Put(testRecord(user, v)))
			want[user] = v
		}
		require.NoError(t, s.Delete("user7"))
		delete(want, "user7")
		if round == 4 {
			s.ckptWG.Wait()
			require.Greater(t, s.current().gen, uint64(1), "the journal was rotated")
			require.LessOrEqual(t, len(journalFiles(t, dir)), 2)
		}
	}
	s.ckptWG.Wait()
	require.Greater(t, s.current().gen, uint64(3))
	require.LessOrEqual(t, len(journalFiles(t, dir)), 2, "old journals are removed")
	for u, v := range want {
		requireRecord(t, s, u, v)
	}
	maxSeq = s.seq.Load()
	s.abandon()

	s = openT(t, dir, key, opts)
	defer s.Close()
	require.GreaterOrEqual(t, s.seq.Load(), maxSeq)
	for u, v := range want {
		requireRecord(t, s, u, v)
	}
	_, ok, err := s.Get("user7")
	require.NoError(t, err)
	require.False(t, ok)
	users, err := s.Users()
	require.NoError(t, err)
	require.Len(t, users, 39)
	require.NoError(t, s.Put(testRecord("user1", 1)))
	r, _, err := s.Get("user1")
	require.NoError(t, err)
	require.Greater(t, r.Seq, maxSeq, "Seq keeps growing across checkpoints")
}

// An interrupted checkpoint (old journal still there, some snapshots
// written) is finished at the next Open.
func TestInterruptedCheckpoint(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := openT(t, dir, key, Options{})
	for i := range 10 {
		require.NoError(t, s.Put(testRecord(fmt.Sprintf("u%d", i), i)))
	}
	s.retryAt.Store(time.Now().Add(time.Hour).UnixNano()) // no background checkpoint
	require.NoError(t, s.rotate())
	// Half of the snapshots written, as a crash would leave them.
	s.mu.RLock()
	for i := range 5 {
		u := fmt.Sprintf("u%d", i)
		require.NoError(t, s.writeSnapshot(u, s.index[u]))
	}
	s.mu.RUnlock()
	require.NoError(t, s.Put(testRecord("u1", 101)))
	s.abandon()
	require.Len(t, journalFiles(t, dir), 2)

	s = openT(t, dir, key, Options{})
	for i := range 10 {
		v := i
		if i == 1 {
			v = 101
		}
		requireRecord(t, s, fmt.Sprintf("u%d", i), v)
	}
	s.ckptWG.Wait()
	require.Len(t, journalFiles(t, dir), 1, "the checkpoint was finished in the background")
	requireRecord(t, s, "u1", 101)
	requireRecord(t, s, "u7", 7)
	require.NoError(t, s.Close())
}

func TestConcurrentUse(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := openT(t, dir, key, Options{CheckpointBytes: 32 << 10, CheckpointWorkers: 4})
	const workers, usersPer, rounds = 48, 3, 25
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	stop := make(chan struct{})
	go func() { // readers of the whole list while everything changes
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := s.Users(); err != nil {
				errs <- err
				return
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				for k := range usersPer {
					u := fmt.Sprintf("w%d-u%d", w, k)
					if r > 0 {
						got, ok, err := s.Get(u)
						if err != nil || !ok || got.LastStep != int64(r-1) {
							errs <- fmt.Errorf("%s round %d: %v %v %d", u, r, err, ok, got.LastStep)
							return
						}
					}
					if err := s.Put(testRecord(u, r)); err != nil {
						errs <- err
						return
					}
				}
				if w%8 == 0 && r == rounds/2 {
					if err := s.Delete(fmt.Sprintf("w%d-gone", w)); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	s.ckptWG.Wait()
	require.Greater(t, s.current().gen, uint64(1), "checkpoints ran during the test")
	require.NoError(t, s.Close())

	s = openT(t, dir, key, Options{})
	defer s.Close()
	users, err := s.Users()
	require.NoError(t, err)
	require.Len(t, users, workers*usersPer)
	for w := range workers {
		for k := range usersPer {
			requireRecord(t, s, fmt.Sprintf("w%d-u%d", w, k), rounds-1)
		}
	}
}

func TestPermissions(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "state")
	s := openT(t, dir, newKey(t), Options{})
	require.NoError(t, s.Put(testRecord("alice", 1)))
	require.NoError(t, s.Close())
	require.NoError(t, filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		require.NoError(t, err)
		if fi.IsDir() {
			require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), p)
		} else {
			require.True(t, fi.Mode().IsRegular(), p)
			require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), p)
		}
		return nil
	}))

	// A loose mode is tightened.
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Chmod(filepath.Join(dir, usersDirName), 0o777))
	key := newKey(t)
	_, err := Open(dir, key, Options{Logf: testLog(t)})
	require.ErrorIs(t, err, ErrWrongKey, "other key, but the modes are fixed before the key check")
	for _, p := range []string{dir, filepath.Join(dir, usersDirName)} {
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), p)
	}

	// Owned by someone else: refused.
	if os.Geteuid() != 0 {
		t.Log("not root: cannot test a foreign owner")
		return
	}
	require.NoError(t, os.Chown(dir, 65534, 65534))
	_, err = Open(dir, key, Options{Logf: testLog(t)})
	errContains(t, err, dir, "owned by uid 65534")
}

func TestSecondOpenRefused(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := openT(t, dir, key, Options{})
	_, err := Open(dir, key, Options{Logf: testLog(t)})
	errContains(t, err, "in use by another totpd")
	require.NoError(t, s.Close())
	s = openT(t, dir, key, Options{})
	require.NoError(t, s.Close())
}

func TestWrongKey(t *testing.T) {
	dir, key := t.TempDir(), newKey(t)
	s := openT(t, dir, key, Options{})
	require.NoError(t, s.Put(testRecord("alice", 1)))
	require.NoError(t, s.Close())

	_, err := Open(dir, newKey(t), Options{Logf: testLog(t), KeySource: "/etc/totpd/master.key"})
	require.ErrorIs(t, err, ErrWrongKey)
	errContains(t, err, "master key does not match the state in "+dir, "was the key file replaced?", "restore /etc/totpd/master.key or the totpd.key credential")

	_, err = Open(dir, key[:31], Options{Logf: testLog(t)})
	errContains(t, err, "32 bytes")

	// Without the key check file, the key is checked against the records.
	require.NoError(t, os.Remove(filepath.Join(dir, keyCheckName)))
	_, err = Open(dir, newKey(t), Options{Logf: testLog(t)})
	require.ErrorIs(t, err, ErrWrongKey)
	_, err = os.Stat(filepath.Join(dir, keyCheckName))
	require.True(t, errors.Is(err, os.ErrNotExist), "no key check file is made for a wrong key")
	s = openT(t, dir, key, Options{})
	requireRecord(t, s, "alice", 1)
	require.NoError(t, s.Close())
	require.FileExists(t, filepath.Join(dir, keyCheckName))

	// A damaged key check file is an error that says what to do.
	require.NoError(t, os.WriteFile(filepath.Join(dir, keyCheckName), []byte("garbage"), 0o600))
	_, err = Open(dir, key, Options{Logf: testLog(t)})
	errContains(t, err, filepath.Join(dir, keyCheckName), "damaged", "remove the file")
}

// Put fails, never pretends, when the journal cannot be written; and the
// journal stays consistent.
func TestJournalWriteFailures(t *testing.T) {
	tests := []struct {
		name   string
		fail   map[string]bool
		broken bool
	}{
		{"write", map[string]bool{"write": true}, false},
		{"fdatasync", map[string]bool{"fdatasync": true}, false},
		{"fdatasync and truncate", map[string]bool{"fdatasync": true, "truncate": true}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, key := t.TempDir(), newKey(t)
			s := openT(t, dir, key, Options{})
			require.NoError(t, s.Put(testRecord("alice", 1)))
			setJournalFault(func(op string) error {
				if tc.fail[op] {
					return unix.EIO
				}
				return nil
			})
			err := s.Put(testRecord("alice", 2))
			setJournalFault(nil)
			require.ErrorIs(t, err, unix.EIO)
			requireRecord(t, s, "alice", 1)
			err = s.Put(testRecord("bob", 1))
			if tc.broken {
				require.ErrorIs(t, err, errJournalBroken, "a journal in an unknown state refuses further updates")
				s.abandon()
			} else {
				require.NoError(t, err)
				require.NoError(t, s.Close())
			}
			s = openT(t, dir, key, Options{})
			defer s.Close()
			if tc.broken {
				// The failed update may or may not have reached the disk.
				got, ok, err := s.Get("alice")
				require.NoError(t, err)
				require.True(t, ok)
				require.Contains(t, []int64{1, 2}, got.LastStep)
				return
			}
			requireRecord(t, s, "alice", 1)
			requireRecord(t, s, "bob", 1)
		})
	}
}

// A long queue is written as several batches, each at most maxBatchBytes.
func TestBatchSplit(t *testing.T) {
	old := maxBatchBytes
	maxBatchBytes = 2 << 10
	defer func() { maxBatchBytes = old }()
	dir, key := t.TempDir(), newKey(t)
	s := openT(t, dir, key, Options{})
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			require.NoError(t, s.Put(testRecord(fmt.Sprintf("u%d", i), i)))
		}()
	}
	wg.Wait()
	batches, biggest := 0, 0
	b, err := os.ReadFile(s.current().path)
	require.NoError(t, err)
	for off := journalHdrSize; off < len(b); {
		n, err := parseBatch(b[off:])
		require.NoError(t, err)
		batches++
		biggest = max(biggest, n)
		off += n
	}
	require.Greater(t, batches, 1)
	require.Less(t, biggest, 2<<10+2<<10)
	s.abandon()
	s = openT(t, dir, key, Options{})
	defer s.Close()
	for i := range 100 {
		requireRecord(t, s, fmt.Sprintf("u%d", i), i)
	}
}
