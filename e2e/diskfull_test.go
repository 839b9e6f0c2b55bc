package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// TestDiskFull puts the state on a small tmpfs and fills it: attempts
// that cannot be recorded are refused ("internal"), never accepted, and
// once there is room again nothing was lost and nothing unrecorded counts.
func TestDiskFull(t *testing.T) {
	t.Parallel()
	b := setup(t, "mount", "umount")
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		testutils.Unmet(t, "cannot mount a tmpfs for the disk-full test: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	d := newDaemon(t, b, config{MaxFailures: 1000})
	d.StateDir = filepath.Join(mnt, "state")
	d.WriteConfig(config{MaxFailures: 1000})
	d.Start()
	u := newUser(t)
	e := d.Enroll(u.Name)
	step := stableStep(t, 8*time.Second)
	good := codeForStep(t, e.Secret, step)
	wrong := wrongCode(t, e.Secret, step)

	// Fill the file system.
	filler := filepath.Join(mnt, "filler")
	f, err := os.OpenFile(filler, os.O_CREATE|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	chunk := make([]byte, 4096)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()
	require.True(t, errors.Is(err, syscall.ENOSPC), "filling the tmpfs: %v", err)

	// The journal's last page may still take a few records; then every
	// attempt is refused because it cannot be recorded.
	denied := 0
	sawInternal := false
	for i := 0; i < 200 && !sawInternal; i++ {
		_, err := d.Verify(u.Name, wrong)
		switch errCode(err) {
		case wire.ErrCodeDenied:
			denied++
		case wire.ErrCodeInternal:
			sawInternal = true
			require.Contains(t, err.Error(), "disk")
		default:
			t.Fatalf("wrong code on a full disk: %v", err)
		}
	}
	require.True(t, sawInternal, "a full disk never refused a write")
	for range 3 {
		_, err = d.Verify(u.Name, good)
		require.Equal(t, wire.ErrCodeInternal, errCode(err), "the right code cannot be recorded, so it is refused")
		_, err = d.Verify(u.Name, wrong)
		require.Equal(t, wire.ErrCodeInternal, errCode(err))
	}
	// The log reaches us through a pipe and a copying goroutine, so it
	// may trail the answers: wait for it rather than read it once.
	d.WaitLog("cannot record the state of user \""+u.Name+"\"", 10*time.Second)
	require.Equal(t, wire.ActionPrompt, d.Query(u.Name).Action, "reading still works")

	// Room again: the refused code was not used up, and only the
	// acknowledged failures count, also after a crash.
	require.NoError(t, os.Remove(filler))
	require.Equal(t, denied, d.Show(u.Name).Failures, "failures that could not be recorded do not count")
	d.Kill()
	d.Start()
	require.Equal(t, denied, d.Show(u.Name).Failures, "after a crash")
	_, err = d.Verify(u.Name, good)
	require.NoError(t, err, "the code refused on the full disk works once there is room")
	_, err = d.Verify(u.Name, good)
	require.Equal(t, wire.ErrCodeDenied, errCode(err))
}
