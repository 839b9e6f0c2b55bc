package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/e2e/testutils"
)

// mountOrSkip mounts fstype at a new directory. Not being able to mount is
// an unmet prerequisite (testutils.Unmet: a failure for root or in CI).
func mountOrSkip(t *testing.T, source, fstype string, flags uintptr, data string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount(source, dir, fstype, flags, data); err != nil {
		testutils.Unmet(t, "cannot mount %s on %s as uid %d: %v (needed for the disk fault tests)", fstype, dir, os.Geteuid(), err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

// fill writes to path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	buf := make([]byte, 4096)
	for _, size := range []int{4096, 1} {
		for {
			if _, err := f.Write(buf[:size]); err != nil {
				require.ErrorIs(t, err, unix.ENOSPC)
				break
			}
		}
	}
}

// On a full disk Put fails (the caller denies), nothing acknowledged is
// lost, nothing refused shows up, and the store recovers once there is
// room.
func TestDiskFull(t *testing.T) {
	mnt := mountOrSkip(t, "tmpfs", "tmpfs", 0, "size=256k,mode=0700")
	dir, key := filepath.Join(mnt, "state"), newKey(t)
	s := openT(t, dir, key, Options{})
	for i := range 10 {
		require.NoError(t, s.Put(testRecord(fmt.Sprintf("u%d", i), 1)))
	}
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)

	// The journal's last page may still have room for a few records: Put
	// until it fails. Every Put that returned nil must survive.
	acked := map[string]int{}
	var failed error
	for v := 2; v < 200 && failed == nil; v++ {
		u := fmt.Sprintf("u%d", v%10)
		if err := s.Put(testRecord(u, v)); err != nil {
			failed = err
			errContains(t, err, "journal", "not saved")
			require.True(t, errors.Is(err, unix.ENOSPC), "%v", err)
			// The refused value is not visible.
			got, _, gerr := s.Get(u)
			require.NoError(t, gerr)
			require.NotEqual(t, int64(v), got.LastStep)
		} else {
			acked[u] = v
		}
	}
	require.Error(t, failed, "a Put on a full disk must fail")
	// Reads still work.
	requireRecord(t, s, "u0", max(acked["u0"], 1))
	// The checkpoint at Close cannot write either: an error, and nothing lost.
	require.Error(t, s.Close())

	require.NoError(t, os.Remove(filler))
	s = openT(t, dir, key, Options{})
	defer s.Close()
	for i := range 10 {
		u := fmt.Sprintf("u%d", i)
		requireRecord(t, s, u, max(acked[u], 1))
	}
	require.NoError(t, s.Put(testRecord("u1", 500)))
	requireRecord(t, s, "u1", 500)
}

// A checkpoint that runs out of room leaves the journals in place; the
// store keeps working from them.
func TestDiskFullDuringCheckpoint(t *testing.T) {
	mnt := mountOrSkip(t, "tmpfs", "tmpfs", 0, "size=512k,mode=0700")
	dir, key := filepath.Join(mnt, "state"), newKey(t)
	s := openT(t, dir, key, Options{})
	for i := range 60 {
		require.NoError(t, s.Put(testRecord(fmt.Sprintf("u%d", i), i)))
	}
	require.NoError(t, s.rotate())
	filler := filepath.Join(mnt, "filler")
	fill(t, filler)
	require.Error(t, s.checkpoint())
	require.Len(t, journalFiles(t, dir), 2)
	for i := range 60 {
		requireRecord(t, s, fmt.Sprintf("u%d", i), i)
	}
	require.NoError(t, os.Remove(filler))
	require.NoError(t, s.checkpoint())
	require.Len(t, journalFiles(t, dir), 1)
	for i := range 60 {
		requireRecord(t, s, fmt.Sprintf("u%d", i), i)
	}
	require.NoError(t, s.Close())
}

// A state directory on a read-only file system: Open fails with a clear
// error instead of running without being able to record anything.
func TestReadOnlyStateDir(t *testing.T) {
	src, key := t.TempDir(), newKey(t)
	s := openT(t, src, key, Options{})
	require.NoError(t, s.Put(testRecord("alice", 1)))
	s.abandon()

	ro := mountOrSkip(t, src, "", unix.MS_BIND, "")
	require.NoError(t, unix.Mount("", ro, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""))
	_, err := Open(ro, key, Options{Logf: testLog(t)})
	require.Error(t, err)
	require.True(t, errors.Is(err, unix.EROFS), "%v", err)
	errContains(t, err, ro)

	// Fresh state on a read-only file system fails too.
	_, err = Open(filepath.Join(ro, "new"), key, Options{Logf: testLog(t)})
	require.Error(t, err)

	// Nothing was lost meanwhile.
	s = openT(t, src, key, Options{})
	requireRecord(t, s, "alice", 1)
	require.NoError(t, s.Close())
}
