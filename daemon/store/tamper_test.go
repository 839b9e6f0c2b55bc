package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// checkpointed makes a state dir where alice, bob and carol live in
// snapshot files (values 1, 2, 3).
func checkpointed(t *testing.T, key []byte) string {
	t.Helper()
	dir := t.TempDir()
	s := openT(t, dir, key, Options{})
	for i, u := range []string{"alice", "bob", "carol"} {
		require.NoError(t, s.Put(testRecord(u, i+1)))
	}
	require.NoError(t, s.Close())
	for _, u := range []string{"alice", "bob", "carol"} {
		require.FileExists(t, filepath.Join(dir, usersDirName, u))
	}
	return dir
}

// withTimeout fails the test instead of hanging (a FIFO opened blocking).
func withTimeout[T any](t *testing.T, f func() T) T {
	t.Helper()
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("hung: a FIFO or similar was waited on")
		panic("unreachable")
	}
}

func TestSnapshotDamage(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name    string
		damage  func(t *testing.T, alice, bob string)
		mention []string
	}{
		{"zero length", func(t *testing.T, a, _ string) { require.NoError(t, os.Truncate(a, 0)) }, []string{"empty (0 bytes)"}},
		{"truncated header", func(t *testing.T, a, _ string) { require.NoError(t, os.Truncate(a, 10)) }, []string{"truncated (10 bytes)"}},
		{"truncated body", func(t *testing.T, a, _ string) {
			fi, err := os.Stat(a)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(a, fi.Size()-1))
		}, []string{"fails authentication"}},
		{"flipped byte", func(t *testing.T, a, _ string) { flipByte(t, a, -5) }, []string{"fails authentication"}},
		{"flipped seq", func(t *testing.T, a, _ string) { flipByte(t, a, 16) }, []string{"fails authentication"}},
		{"damaged header", func(t *testing.T, a, _ string) { flipByte(t, a, 0) }, []string{"damaged header"}},
		{"kind changed to delete", func(t *testing.T, a, _ string) { setByte(t, a, 8, kindDelete) }, []string{"delete marker"}},
		{"appended garbage", func(t *testing.T, a, _ string) {
			f, err := os.OpenFile(a, os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.Write([]byte("xyz"))
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, []string{"fails authentication"}},
		{"copied from another user", func(t *testing.T, a, b string) {
			data, err := os.ReadFile(b)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(a, data, 0o600))
		}, []string{"fails authentication", "copied from another user"}},
		{"symlink to another user's file", func(t *testing.T, a, b string) {
			require.NoError(t, os.Remove(a))
			require.NoError(t, os.Symlink(b, a))
		}, []string{"symbolic link", "refusing"}},
		{"symlink to /etc/passwd", func(t *testing.T, a, _ string) {
			require.NoError(t, os.Remove(a))
			require.NoError(t, os.Symlink("/etc/passwd", a))
		}, []string{"symbolic link"}},
		{"dangling symlink", func(t *testing.T, a, _ string) {
			require.NoError(t, os.Remove(a))
			require.NoError(t, os.Symlink("/nonexistent/x", a))
		}, []string{"symbolic link"}},
		{"FIFO", func(t *testing.T, a, _ string) {
			require.NoError(t, os.Remove(a))
			require.NoError(t, unix.Mkfifo(a, 0o600))
		}, []string{"FIFO"}},
		{"directory", func(t *testing.T, a, _ string) {
			require.NoError(t, os.Remove(a))
			require.NoError(t, os.Mkdir(a, 0o700))
		}, []string{"directory"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := checkpointed(t, key)
			alice := filepath.Join(dir, usersDirName, "alice")
			tc.damage(t, alice, filepath.Join(dir, usersDirName, "bob"))
			s := openT(t, dir, key, Options{})
			defer s.Close()
			res := withTimeout(t, func() getResult {
				r, ok, err := s.Get("alice")
				return getResult{r, ok, err}
			})
			ok, err := res.ok, res.err
			require.ErrorIs(t, err, ErrCorrupt, "never 'not enrolled'")
			require.False(t, ok)
			errContains(t, err, append([]string{alice, "denying this user"}, tc.mention...)...)
			requireRecord(t, s, "bob", 2)
			requireRecord(t, s, "carol", 3)
			users, err := s.Users()
			require.NoError(t, err)
			require.Equal(t, []string{"alice", "bob", "carol"}, users)

			// A new Put for the user replaces the damage (the admin's reset).
			require.NoError(t, s.Put(testRecord("alice", 7)))
			requireRecord(t, s, "alice", 7)
			if tc.name == "directory" {
				// A directory is not replaced: the checkpoint fails, the
				// journal keeps the record, the admin removes the directory.
				errContains(t, s.Close(), alice, "is a directory")
				require.NoError(t, os.Remove(alice))
				s = openT(t, dir, key, Options{})
				requireRecord(t, s, "alice", 7)
				require.NoError(t, s.Close())
			} else {
				require.NoError(t, s.Close())
			}
			fi, err := os.Lstat(alice)
			require.NoError(t, err)
			require.True(t, fi.Mode().IsRegular(), "the checkpoint replaced what was planted")
			s = openT(t, dir, key, Options{})
			requireRecord(t, s, "alice", 7)
		})
	}
}

type getResult struct {
	r   Record
	ok  bool
	err error
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	if at < 0 {
		at += len(b)
	}
	b[at] ^= 0x20
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

func setByte(t *testing.T, path string, at int, v byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	b[at] = v
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// Planted links and FIFOs in place of the journal, the key check, users/
// or the state directory itself make Open fail, without following them
// and without hanging.
func TestPlantedAtOpen(t *testing.T) {
	key := newKey(t)
	tests := []struct {
		name    string
		plant   func(t *testing.T, dir string) string // returns the path expected in the error
		mention string
	}{
		{"journal symlink", func(t *testing.T, dir string) string {
			j := journalFiles(t, dir)[0]
			require.NoError(t, os.Rename(j, filepath.Join(t.TempDir(), "elsewhere")))
			require.NoError(t, os.Symlink("/etc/passwd", j))
			return j
		}, "symbolic link"},
		{"journal FIFO", func(t *testing.T, dir string) string {
			j := journalFiles(t, dir)[0]
			require.NoError(t, os.Remove(j))
			require.NoError(t, unix.Mkfifo(j, 0o600))
			return j
		}, "FIFO"},
		{"keycheck symlink", func(t *testing.T, dir string) string {
			k := filepath.Join(dir, keyCheckName)
			require.NoError(t, os.Remove(k))
			require.NoError(t, os.Symlink("/etc/passwd", k))
			return k
		}, "symbolic link"},
		{"keycheck FIFO", func(t *testing.T, dir string) string {
			k := filepath.Join(dir, keyCheckName)
			require.NoError(t, os.Remove(k))
			require.NoError(t, unix.Mkfifo(k, 0o600))
			return k
		}, "FIFO"},
		{"users symlink", func(t *testing.T, dir string) string {
			u := filepath.Join(dir, usersDirName)
			other := t.TempDir()
			require.NoError(t, os.Rename(u, filepath.Join(other, "u")))
			require.NoError(t, os.Symlink(filepath.Join(other, "u"), u))
			return u
		}, "symbolic link"},
		{"users is a file", func(t *testing.T, dir string) string {
			u := filepath.Join(dir, usersDirName)
			require.NoError(t, os.RemoveAll(u))
			require.NoError(t, os.WriteFile(u, nil, 0o600))
			return u
		}, "regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := checkpointed(t, key)
			want := tc.plant(t, dir)
			err := withTimeout(t, func() error {
				s, err := Open(dir, key, Options{Logf: testLog(t)})
				if err == nil {
					s.Close()
				}
				return err
			})
			errContains(t, err, want, tc.mention)
		})
	}

	t.Run("state dir symlink", func(t *testing.T) {
		dir := checkpointed(t, key)
		link := filepath.Join(t.TempDir(), "state")
		require.NoError(t, os.Symlink(dir, link))
		_, err := Open(link, key, Options{Logf: testLog(t)})
		errContains(t, err, link, "symbolic link")
	})
}
