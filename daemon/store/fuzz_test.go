package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// fuzzSeed builds a real state directory (alice and bob, in the journal
// and, after a checkpoint, as snapshots) and reports its key, keycheck,
// the journal's bytes while records are in it, and alice's snapshot.
func fuzzSeed(f *testing.F) (key, keycheck, journal, snapshot []byte, journalFile string) {
	dir := f.TempDir()
	key = newKey(f)
	quiet := Options{Logf: func(string, ...any) {}}
	s, err := Open(dir, key, quiet)
	require.NoError(f, err)
	require.NoError(f, s.Put(testRecord("alice", 1)))
	require.NoError(f, s.Put(testRecord("bob", 2)))
	names, err := filepath.Glob(filepath.Join(dir, journalPrefix+"*"))
	require.NoError(f, err)
	require.Len(f, names, 1)
	journalFile = filepath.Base(names[0])
	journal, err = os.ReadFile(names[0])
	require.NoError(f, err)
	require.NoError(f, s.Close()) // checkpoints: users/alice, users/bob
	keycheck, err = os.ReadFile(filepath.Join(dir, keyCheckName))
	require.NoError(f, err)
	snapshot, err = os.ReadFile(filepath.Join(dir, usersDirName, "alice"))
	require.NoError(f, err)
	return key, keycheck, journal, snapshot, journalFile
}

// fuzzOpen writes files into a fresh state directory, opens it with key
// and reads every user. Whatever the bytes, it must not panic; a store
// that opens must answer Get with a record or an error for every user it
// lists, and close.
func fuzzOpen(t *testing.T, key []byte, files map[string][]byte) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, usersDirName), 0o700))
	for name, b := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), b, 0o600))
	}
	s, err := Open(dir, key, Options{Logf: func(string, ...any) {}})
	if err != nil {
		require.NotEmpty(t, err.Error())
		return
	}
	users, err := s.Users()
	if err == nil {
		for _, u := range append(users, "alice") {
			r, ok, err := s.Get(u)
			if err == nil && ok {
				require.Equal(t, u, r.User, "a record read for %s must be %s's", u, u)
			}
		}
	}
	require.NoError(t, s.Close())
}

// FuzzJournalReplay: any journal file either replays or is refused.
func FuzzJournalReplay(f *testing.F) {
	key, keycheck, journal, _, name := fuzzSeed(f)
	f.Add(journal)
	f.Add(journal[:len(journal)/2])
	f.Add(journal[:min(len(journal), 40)])
	f.Add([]byte{})
	bad := append([]byte(nil), journal...)
	bad[len(bad)-3] ^= 0xff
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOpen(t, key, map[string][]byte{keyCheckName: keycheck, name: data})
	})
}

// FuzzSnapshotLoad: any users/alice either reads as alice's record or
// is an error, never another user's record or a panic.
func FuzzSnapshotLoad(f *testing.F) {
	key, keycheck, _, snapshot, _ := fuzzSeed(f)
	f.Add(snapshot)
	f.Add(snapshot[:len(snapshot)/2])
	f.Add([]byte(snapMagic))
	f.Add([]byte(strings.Repeat("\x00", 64)))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzOpen(t, key, map[string][]byte{keyCheckName: keycheck, filepath.Join(usersDirName, "alice"): data})
	})
}
