package e2e

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// TestBackupRestore: `totpctl backup` taken while verifications run
// restores, with `totpctl restore`, to a state whose users all verify
// with a fresh code; a code used after the backup, one used before it and
// a recovery code spent after it are all refused after the restore; a user
// enrolled after the backup is gone. Restore is root's alone, FILE is
// never written through a symbolic link, and a daemon with another master
// key refuses the backup with a clear error and keeps its state.
func TestBackupRestore(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adminGroup := newGroup(t)
	d := startDaemon(t, b, config{MaxFailures: 1000, AdminGroup: adminGroup})
	const n = 4
	users := make([]account, n)
	enr := make([]adminEnrollment, n)
	for i := range users {
		users[i] = newUser(t)
		enr[i] = d.Enroll(users[i].Name)
	}
	step := stableStep(t, 15*time.Second)
	before := codeForStep(t, enr[1].Secret, step)
	_, err := d.Verify(users[1].Name, before)
	require.NoError(t, err, "a code used before the backup")

	// A load of verifications (wrong codes, each a durable write) while
	// the backup is taken.
	var stop atomic.Bool
	var done atomic.Int64
	var wg sync.WaitGroup
	for i := range users {
		wrong := wrongCode(t, enr[i].Secret, step)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 300 && !stop.Load(); k++ {
				if _, err := d.Verify(users[i].Name, wrong); errCode(err) != wire.ErrCodeDenied {
					t.Errorf("a wrong code under load: %v", err)
					return
				}
				done.Add(1)
			}
		}()
	}
	testutils.WaitFor(t, 10*time.Second, "the load to start", func() bool { return done.Load() >= 20 })
	dir := t.TempDir()
	path := filepath.Join(dir, "totpd.backup")
	r := d.CtlOK(nil, "backup", path)
	atBackup := done.Load()
	stop.Store(true)
	wg.Wait()
	require.Less(t, atBackup, int64(n*300), "the backup was taken while the load ran")
	require.Contains(t, r.Stdout, "Backed up 4 users to "+path)
	require.Contains(t, r.Stdout, "useless without the master key")
	require.Contains(t, r.Stdout, d.KeyFile, "it says where the key is")
	st, err := os.Lstat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	requireNoSecrets(t, string(data), []string{enr[0].Secret, enr[1].Secret, enr[2].RecoveryCodes[0]}, nil)

	// After the backup: a code and a recovery code used, a user enrolled.
	after := codeForStep(t, enr[0].Secret, stepOf(time.Now()))
	_, err = d.Verify(users[0].Name, after)
	require.NoError(t, err, "a code used after the backup")
	_, err = d.Verify(users[2].Name, enr[2].RecoveryCodes[0])
	require.NoError(t, err, "a recovery code used after the backup")
	late := newUser(t)
	d.Enroll(late.Name)

	// FILE is never written through a link, nor over a file.
	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(filepath.Join(dir, "elsewhere"), link))
	r = d.Ctl("backup", link)
	require.Equal(t, 1, r.Code, "%s", r)
	require.Contains(t, r.Stderr, "exists already")
	_, err = os.Lstat(filepath.Join(dir, "elsewhere"))
	require.ErrorIs(t, err, os.ErrNotExist)

	// Restore is root's alone, even for admin_group.
	adm := newUser(t, adminGroup)
	mine := filepath.Join(publicDir(t), "copy")
	require.NoError(t, os.WriteFile(mine, data, 0o600))
	require.NoError(t, os.Chown(mine, int(adm.UID), int(adm.GID)))
	r = d.CtlAs(adm, "restore", mine)
	require.Equal(t, 1, r.Code, "%s", r)
	require.Contains(t, r.Stderr, "only root")
	require.True(t, d.Show(late.Name).Enrolled, "a refused restore changes nothing")

	r = d.CtlOK(nil, "restore", path)
	require.Contains(t, r.Stdout, "Restored 4 users from "+path)
	_, err = d.Verify(users[0].Name, after)
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the code used after the backup is refused after the restore")
	_, err = d.Verify(users[1].Name, before)
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the code used before the backup is refused after the restore")
	_, err = d.Verify(users[2].Name, enr[2].RecoveryCodes[0])
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "the recovery code spent after the backup stays spent")
	require.False(t, d.Show(late.Name).Enrolled, "the state is the backup's: a user enrolled later is gone")
	for i, u := range users {
		_, err := d.Verify(u.Name, codeForStep(t, enr[i].Secret, stepOf(time.Now())+1))
		require.NoError(t, err, "%s verifies with a fresh code after the restore", u.Name)
	}

	// The restored state is durable: the same after a restart.
	require.NoError(t, d.Stop())
	d.Start()
	require.True(t, d.Show(users[3].Name).Enrolled)
	require.False(t, d.Show(late.Name).Enrolled)

	// Another daemon, another master key: refused, clearly, state untouched.
	d2 := newDaemon(t, b, config{})
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	require.NoError(t, os.WriteFile(d2.KeyFile, k, 0o600))
	d2.Start()
	other := newUser(t)
	e2 := d2.Enroll(other.Name)
	r = d2.Ctl("restore", path)
	require.Equal(t, 1, r.Code, "%s", r)
	require.Contains(t, r.Stderr, "nothing was restored")
	require.Contains(t, r.Stderr, "another master key")
	require.Contains(t, r.Stderr, d2.KeyFile)
	require.True(t, d2.Show(other.Name).Enrolled, "the state is untouched")
	_, err = d2.Verify(other.Name, codeAt(t, e2.Secret, time.Now()))
	require.NoError(t, err)
	requireNoSecrets(t, d.Stderr()+d2.Stderr(), []string{enr[0].Secret, e2.Secret}, []string{before, after})
}
