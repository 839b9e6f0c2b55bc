package store

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// journalWithBatches makes a state dir whose journal holds one batch per
// user in users (values 1, 2, ...), abandoned as by a crash. It returns the
// journal path and the offset where each batch starts.
func journalWithBatches(t *testing.T, key []byte, users ...string) (dir, journalPath string, starts []int64) {
	t.Helper()
	dir = t.TempDir()
	s := openT(t, dir, key, Options{})
	for i, u := range users {
		starts = append(starts, s.current().size)
		require.NoError(t, s.Put(testRecord(u, i+1)))
	}
	journalPath = s.current().path
	s.abandon()
	return dir, journalPath, starts
}

// TestTornTail cuts the journal at every byte of its last batch, and also
// fills the last batch with garbage: reopening works, drops only the
// unfinished batch, and later writes go on cleanly.
func TestTornTail(t *testing.T) {
	key := newKey(t)
	users := []string{"alice", "bob", "carol", "dave"}
	src, jpath, starts := journalWithBatches(t, key, users...)
	full, err := os.ReadFile(jpath)
	require.NoError(t, err)
	last := starts[len(starts)-1]
	jname := filepath.Base(jpath)

	work := t.TempDir()
	copyDir(t, src, work)
	check := func(t *testing.T, journal []byte, lastPresent, thorough bool) {
		dir := work
		for _, j := range journalFiles(t, dir) {
			require.NoError(t, os.Remove(j))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, jname), journal, 0o600))
		s, err := Open(dir, key, Options{Logf: func(string, ...any) {}})
		require.NoError(t, err, "cut at %d", len(journal))
		for i, u := range users[:3] {
			requireRecord(t, s, u, i+1)
		}
		_, ok, err := s.Get("dave")
		require.NoError(t, err)
		require.Equal(t, lastPresent, ok, "cut at %d", len(journal))
		if !thorough {
			s.abandon()
			return
		}
		// The store appends after the cut and stays readable.
		require.NoError(t, s.Put(testRecord("erin", 9)))
		s.abandon()
		s, err = Open(dir, key, Options{Logf: func(string, ...any) {}})
		require.NoError(t, err)
		requireRecord(t, s, "erin", 9)
		requireRecord(t, s, "carol", 3)
		s.abandon()
	}

	t.Run("every cut", func(t *testing.T) {
		for cut := last; cut <= int64(len(full)); cut++ {
			check(t, full[:cut], cut == int64(len(full)), (cut-last)%16 == 0 || cut-last < batchHdrSize+2)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			mod  func(b []byte)
		}{
			{"zeros", func(b []byte) { clear(b[last:]) }},
			{"first half zero", func(b []byte) { clear(b[last : last+(int64(len(b))-last)/2]) }},
			{"second half zero", func(b []byte) { clear(b[last+(int64(len(b))-last)/2:]) }},
			{"one flipped byte", func(b []byte) { b[len(b)-3] ^= 0x40 }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				b := append([]byte(nil), full...)
				tc.mod(b)
				check(t, b, false, true)
			})
		}
	})
}

// Damage before the last batch cannot be a torn write: Open refuses and
// says which file and what to do.
func TestJournalDamagedInTheMiddle(t *testing.T) {
	key := newKey(t)
	dir, jpath, starts := journalWithBatches(t, key, "alice", "bob", "carol", "dave")
	b, err := os.ReadFile(jpath)
	require.NoError(t, err)
	for name, off := range map[string]int64{
		"batch header": starts[1] + 5,
		"record body":  starts[1] + batchHdrSize + 20,
		"first batch":  starts[0],
	} {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			copyDir(t, dir, d)
			bad := append([]byte(nil), b...)
			bad[off] ^= 0x01
			require.NoError(t, os.WriteFile(filepath.Join(d, filepath.Base(jpath)), bad, 0o600))
			_, err := Open(d, key, Options{Logf: testLog(t)})
			errContains(t, err, filepath.Join(d, filepath.Base(jpath)), "damaged", "valid records follow", "Restore the state directory", "move")
		})
	}
	t.Run("header", func(t *testing.T) {
		d := t.TempDir()
		copyDir(t, dir, d)
		bad := append([]byte(nil), b...)
		bad[20] ^= 0x01
		require.NoError(t, os.WriteFile(filepath.Join(d, filepath.Base(jpath)), bad, 0o600))
		_, err := Open(d, key, Options{Logf: testLog(t)})
		errContains(t, err, filepath.Base(jpath), "damaged header")
	})
}

// rewriteRecord edits the sealed bytes or kind of user's record in the
// journal and fixes the batch CRC, as a deliberate attacker would.
func rewriteRecord(t *testing.T, path, user string, edit func(kind *byte, sealed []byte)) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	off := journalHdrSize
	found := false
	for off < len(b) {
		total, err := parseBatch(b[off:])
		require.NoError(t, err)
		count := binary.BigEndian.Uint32(b[off+12:])
		p := off + batchHdrSize
		for range count {
			ulen := int(b[p+1])
			slen := int(binary.BigEndian.Uint32(b[p+10:]))
			u := string(b[p+recHdrSize : p+recHdrSize+ulen])
			if u == user {
				edit(&b[p], b[p+recHdrSize+ulen:p+recHdrSize+ulen+slen])
				found = true
			}
			p += recHdrSize + ulen + slen
		}
		binary.BigEndian.PutUint32(b[off+8:], crc32Castagnoli(b[off+12:off+total]))
		off += total
	}
	require.True(t, found, "no record of %s", user)
	require.NoError(t, os.WriteFile(path, b, 0o600))
}

// A record with an intact frame that fails authentication makes Get fail
// for that user only; a forged delete marker does not make a user vanish.
func TestJournalRecordTampered(t *testing.T) {
	key := newKey(t)
	for _, tc := range []struct {
		name string
		edit func(kind *byte, sealed []byte)
	}{
		{"ciphertext", func(_ *byte, s []byte) { s[len(s)/2] ^= 1 }},
		{"nonce", func(_ *byte, s []byte) { s[0] ^= 1 }},
		{"tag", func(_ *byte, s []byte) { s[len(s)-1] ^= 1 }},
		{"record turned into delete marker", func(k *byte, _ []byte) { *k = kindDelete }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, jpath, _ := journalWithBatches(t, key, "alice", "bob", "carol")
			rewriteRecord(t, jpath, "bob", tc.edit)
			s := openT(t, dir, key, Options{})
			defer s.Close()
			_, _, err := s.Get("bob")
			require.ErrorIs(t, err, ErrCorrupt)
			errContains(t, err, `"bob"`, jpath, "fails authentication")
			requireRecord(t, s, "alice", 1)
			requireRecord(t, s, "carol", 3)
			users, err := s.Users()
			require.NoError(t, err)
			require.Contains(t, users, "alice")

			// After a checkpoint the damage is still reported, not forgotten.
			require.NoError(t, s.Close())
			s = openT(t, dir, key, Options{})
			_, _, err = s.Get("bob")
			require.ErrorIs(t, err, ErrCorrupt)
			errContains(t, err, filepath.Join(dir, "users", "bob"))
			requireRecord(t, s, "carol", 3)
		})
	}
}

// A record moved to another user's name (same length) fails.
func TestJournalRecordMovedToOtherUser(t *testing.T) {
	key := newKey(t)
	dir, jpath, _ := journalWithBatches(t, key, "alice", "bob", "carol")
	b, err := os.ReadFile(jpath)
	require.NoError(t, err)
	// Make a second journal generation holding "bob"'s sealed record under
	// the name "eve".
	s := openT(t, dir, key, Options{})
	require.NoError(t, s.Put(testRecord("eve", 2)))
	eveJournal := s.current().path
	s.abandon()
	rewriteRecord(t, eveJournal, "eve", func(_ *byte, sealed []byte) {
		// Replace eve's sealed bytes by bob's (same length: same shape).
		bobSealed := findSealed(t, b, "bob")
		require.Len(t, bobSealed, len(sealed))
		copy(sealed, bobSealed)
	})
	s = openT(t, dir, key, Options{})
	defer s.Close()
	_, _, err = s.Get("eve")
	require.ErrorIs(t, err, ErrCorrupt)
	requireRecord(t, s, "bob", 2)
}

func findSealed(t *testing.T, b []byte, user string) []byte {
	off := journalHdrSize
	for off < len(b) {
		total, err := parseBatch(b[off:])
		require.NoError(t, err)
		count := binary.BigEndian.Uint32(b[off+12:])
		p := off + batchHdrSize
		for range count {
			ulen := int(b[p+1])
			slen := int(binary.BigEndian.Uint32(b[p+10:]))
			if string(b[p+recHdrSize:p+recHdrSize+ulen]) == user {
				return append([]byte(nil), b[p+recHdrSize+ulen:p+recHdrSize+ulen+slen]...)
			}
			p += recHdrSize + ulen + slen
		}
		off += total
	}
	t.Fatalf("no record of %s", user)
	return nil
}

func TestJournalNames(t *testing.T) {
	for _, gen := range []uint64{1, 2, 0xfff, 1 << 60} {
		g, ok := parseJournalName(journalName(gen))
		require.True(t, ok)
		require.Equal(t, gen, g)
	}
	for _, n := range []string{"journal-", "journal-xyz", "journal-00000000000000001", "journal-000000000000000g", "users", fmt.Sprintf("x%s", journalName(1))} {
		_, ok := parseJournalName(n)
		require.False(t, ok, n)
	}
}
