package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// TestRestoreRootOnly: backup is an admin op, restore root's alone.
func TestRestoreRootOnly(t *testing.T) {
	e := engine.New(config.Default(), engine.Local(nostore{}), engine.Options{
		Accounts: accounts{"root": 0, "alice": 1001, "adm": 1003}, Audit: &audit.Recorder{}, Now: time.Now,
	})
	cfg := config.Default()
	cfg.AdminGroup = "totpd-admin"
	e.SetConfig(cfg)
	for _, tc := range []struct {
		uid uint32
		op  wire.Op
		ok  bool
	}{
		{0, wire.OpBackup, true}, {1003, wire.OpBackup, true}, {1001, wire.OpBackup, false},
		{0, wire.OpRestore, true}, {1003, wire.OpRestore, false}, {1001, wire.OpRestore, false},
	} {
		caller, _, callerErr := lookupCaller(e, tc.uid)
		_, werr := authorize(e, Peer{UID: tc.uid}, caller, callerErr, &wire.Request{Op: tc.op})
		require.Equal(t, tc.ok, werr == nil, "uid %d %s: %v", tc.uid, tc.op, werr)
		if tc.op == wire.OpRestore && !tc.ok {
			require.Contains(t, werr.Message, "only root")
		}
	}
}

// TestBackupThroughPassedFile: totpctl's path end to end in one process:
// the client passes an open file with the request (SCM_RIGHTS), the server
// writes the backup through it and restores from another, and a file op
// whose client passes nothing is refused once the read deadline passes.
func TestBackupThroughPassedFile(t *testing.T) {
	dir := t.TempDir()
	key := make([]byte, 32)
	st, err := store.Open(filepath.Join(dir, "state"), key, store.Options{Logf: t.Logf})
	require.NoError(t, err)
	defer st.Close()
	uid := uint32(1001)
	require.NoError(t, st.Put(store.Record{User: "alice", UID: &uid, Secret: []byte("0123456789abcdef0123"), PeriodSec: 30, LastStep: 5}))
	rec := &audit.Recorder{}
	e := engine.New(config.Default(), engine.Local(st), engine.Options{Accounts: accounts{"root": 0, "alice": 1001}, Audit: rec, Now: time.Now})
	s := &Server{Engine: e, Audit: rec, Peer: func(net.Conn) (Peer, error) { return Peer{UID: 0}, nil }, ReadTimeout: 300 * time.Millisecond}
	sock := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); require.NoError(t, <-done) }()
	cl := &client.Client{Socket: sock, Timeout: 5 * time.Second, ServerUID: os.Geteuid()}

	path := filepath.Join(dir, "backup")
	f, err := store.CreateBackupFile(path)
	require.NoError(t, err)
	resp, err := cl.CallWithFile(context.Background(), wire.Request{Op: wire.OpBackup}, f)
	f.Close()
	require.NoError(t, err)
	require.Equal(t, 1, resp.Backup.Users)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, resp.Backup.Bytes, fi.Size(), "the daemon wrote the backup through the passed file")

	require.NoError(t, st.Put(store.Record{User: "bob", Secret: []byte("x")}))
	f, err = store.OpenBackupFile(path)
	require.NoError(t, err)
	resp, err = cl.CallWithFile(context.Background(), wire.Request{Op: wire.OpRestore}, f)
	f.Close()
	require.NoError(t, err)
	require.Equal(t, 1, resp.Backup.Users)
	_, ok, err := st.Get("bob")
	require.NoError(t, err)
	require.False(t, ok, "the restored state replaced the one after the backup")
	r, ok, err := st.Get("alice")
	require.NoError(t, err)
	require.True(t, ok)
	require.Greater(t, r.LastStep, int64(5), "the last step is raised to now")

	_, err = cl.Call(context.Background(), wire.Request{Op: wire.OpBackup})
	var we *wire.Error
	require.ErrorAs(t, err, &we)
	require.Contains(t, we.Message, "the file passed with the request cannot be used")
}
