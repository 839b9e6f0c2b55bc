package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// fileDaemon is a fakeDaemon that also takes files (as client.Client's
// CallWithFile does) and records what it was handed.
type fileDaemon struct {
	*fakeDaemon
	got []string // the name of each file passed
}

func (f *fileDaemon) CallWithFile(ctx context.Context, req wire.Request, file *os.File) (*wire.Response, error) {
	f.got = append(f.got, file.Name())
	if req.Op == wire.OpBackup {
		if _, err := file.WriteString("sealed"); err != nil {
			return nil, err
		}
	}
	return f.Call(ctx, req)
}

var testBackup = wire.BackupInfo{Users: 42, Created: testNow, Host: "myhost", Bytes: 18327, KeySource: "/etc/totpd/master.key"}

// runBackupCmd runs totpctl args with FILE in a temporary directory and
// reports the output with that directory written DIR.
func runBackupCmd(t *testing.T, d *fileDaemon, dir string, args ...string) result {
	t.Helper()
	r := runFake(t, d, "", args...)
	r.stdout = strings.ReplaceAll(r.stdout, dir, "DIR")
	r.stderr = strings.ReplaceAll(r.stderr, dir, "DIR")
	return r
}

func TestGoldenBackup(t *testing.T) {
	dir := t.TempDir()
	d := &fileDaemon{fakeDaemon: fixed(wire.Response{Backup: &testBackup})}
	r := runBackupCmd(t, d, dir, "backup", filepath.Join(dir, "b1"))
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "backup.txt", r.stdout)
	st, err := os.Stat(filepath.Join(dir, "b1"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	require.Equal(t, []wire.Op{wire.OpBackup}, []wire.Op{d.requests()[0].Op})

	r = runBackupCmd(t, d, dir, "backup", filepath.Join(dir, "b2"), "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "backup.json", r.stdout)

	r = runBackupCmd(t, d, dir, "restore", filepath.Join(dir, "b1"))
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "restore.txt", r.stdout)
	require.Equal(t, wire.OpRestore, d.requests()[2].Op)
}

// TestBackupFileHandling: an existing FILE is neither overwritten nor
// handed to the daemon; a backup the daemon refuses leaves no file behind;
// restore reads no symbolic link.
func TestBackupFileHandling(t *testing.T) {
	dir := t.TempDir()
	d := &fileDaemon{fakeDaemon: fixed(wire.Response{Backup: &testBackup})}
	old := filepath.Join(dir, "old")
	require.NoError(t, os.WriteFile(old, []byte("keep me"), 0o600))
	r := runBackupCmd(t, d, dir, "backup", old)
	require.Equal(t, exitFailed, r.code)
	require.Equal(t, "totpctl: DIR/old exists already; a backup never overwrites a file: name a new one\n", r.stderr)
	b, _ := os.ReadFile(old)
	require.Equal(t, "keep me", string(b))
	require.Empty(t, d.got, "nothing was passed to the daemon")

	no := &fileDaemon{fakeDaemon: fixed(*refused(wire.ErrCodeInternal, "the backup was not written: disk full"))}
	r = runBackupCmd(t, no, dir, "backup", filepath.Join(dir, "new"))
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "disk full")
	_, err := os.Lstat(filepath.Join(dir, "new"))
	require.ErrorIs(t, err, os.ErrNotExist, "the file of a failed backup is removed")

	require.NoError(t, os.Symlink(old, filepath.Join(dir, "link")))
	r = runBackupCmd(t, d, dir, "restore", filepath.Join(dir, "link"))
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "symbolic link")
	require.Empty(t, d.got)
}
