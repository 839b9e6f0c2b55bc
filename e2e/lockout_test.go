package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// failUntilLocked sends wrong codes: the first max-1 are denied, the
// max-th locks the user.
func failUntilLocked(t *testing.T, d *daemon, user, secret string, max int) {
	t.Helper()
	wrong := wrongCode(t, secret, stepOf(time.Now()))
	for i := 1; i <= max; i++ {
		resp, err := d.Verify(user, wrong)
		if i < max {
			require.Equal(t, wire.ErrCodeDenied, errCode(err), "failure %d of %d", i, max)
			require.False(t, resp.Locked)
			continue
		}
		require.Equal(t, wire.ErrCodeLocked, errCode(err), "failure %d of %d locks", i, max)
		require.True(t, resp.Locked)
		require.Contains(t, err.Error(), "locked")
	}
}

func TestLockoutUntilAdminUnlocks(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{MaxFailures: 3, LockoutDuration: "0s"})
	u := newUser(t)
	e := d.Enroll(u.Name)

	step := stableStep(t, 4*time.Second)
	good := codeForStep(t, e.Secret, step)
	failUntilLocked(t, d, u.Name, e.Secret, 3)

	// Locked: the right code is refused too, and login is denied up front.
	resp, err := d.Verify(u.Name, good)
	require.Equal(t, wire.ErrCodeLocked, errCode(err), "the right code while locked")
	require.True(t, resp.Locked)
	_, err = d.Verify(u.Name, e.RecoveryCodes[0])
	require.Equal(t, wire.ErrCodeLocked, errCode(err), "a recovery code while locked")
	q := d.Query(u.Name)
	require.Equal(t, wire.ActionDeny, q.Action)
	require.True(t, q.Locked)
	require.NotEmpty(t, q.Messages)
	require.Contains(t, q.Messages[0].Text, "totpctl user unlock "+u.Name)
	s := d.Show(u.Name)
	require.True(t, s.Locked)
	require.Nil(t, s.LockedUntil, "duration 0s: locked until an admin unlocks")
	require.Equal(t, 3, s.Failures, "refusals while locked are not counted")

	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Locked, "the user sees the lock")

	r := d.CtlOK(nil, "user", "unlock", u.Name)
	require.Contains(t, r.Stdout, "unlocked")
	s = d.Show(u.Name)
	require.False(t, s.Locked)
	require.Equal(t, 0, s.Failures)

	// The code refused while locked was not used up.
	_, err = d.Verify(u.Name, good)
	require.NoError(t, err, "the right code after the unlock")

	// A success resets the count: it takes max_failures failures again.
	failUntilLocked(t, d, u.Name, e.Secret, 3)
	d.CtlOK(nil, "user", "unlock", u.Name)
}

func TestLockoutExpires(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{MaxFailures: 3, LockoutDuration: "2s"})
	u := newUser(t)
	e := d.Enroll(u.Name)

	step := stableStep(t, 8*time.Second)
	good := codeForStep(t, e.Secret, step)
	lockedAt := time.Now()
	failUntilLocked(t, d, u.Name, e.Secret, 3)

	resp, err := d.Verify(u.Name, good)
	require.Equal(t, wire.ErrCodeLocked, errCode(err), "the right code while locked")
	require.True(t, resp.Locked)
	s := d.Show(u.Name)
	require.True(t, s.Locked)
	require.NotNil(t, s.LockedUntil)
	until, err := time.Parse(time.RFC3339, *s.LockedUntil)
	require.NoError(t, err)
	require.WithinDuration(t, lockedAt.Add(2*time.Second), until, 2*time.Second)

	testutils.WaitFor(t, 10*time.Second, "the 2s lock to expire", func() bool {
		return d.Query(u.Name).Action == wire.ActionPrompt
	})
	require.GreaterOrEqual(t, time.Since(lockedAt), 1500*time.Millisecond, "the lock lasted")
	require.False(t, d.Show(u.Name).Locked)
	_, err = d.Verify(u.Name, good)
	require.NoError(t, err, "the right code once the lock expired")
}
