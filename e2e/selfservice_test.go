package e2e

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// TestWindow checks the accepted window (window = 1: one step either side).
func TestWindow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{MaxFailures: 1000})
	u := newUser(t)
	e := d.Enroll(u.Name)

	step := stableStep(t, 5*time.Second)
	c := codesFrom(t, e.Secret, step-2, 5) // step-2 … step+2
	for _, i := range []int{0, 4} {
		_, err := d.Verify(u.Name, c[i])
		require.Equal(t, wire.ErrCodeDenied, errCode(err), "the code of step %+d is outside the window", i-2)
	}
	// Each accepted code records the phone's drift (-1, 0, +1 here) and
	// the window follows it, so the three steps log in one after another.
	for i := 1; i <= 3; i++ {
		_, err := d.Verify(u.Name, c[i])
		require.NoError(t, err, "the code of step %+d", i-2)
	}
	_, err := d.Verify(u.Name, c[2])
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "a step before the last accepted one")
	require.Contains(t, err.Error(), "already used")
	require.Equal(t, 0, d.Show(u.Name).Failures, "successes reset the count; a replay is refused but not counted")
}

// checkJSON is `totpctl user check --json`.
type checkJSON struct {
	User         string `json:"user"`
	Valid        bool   `json:"valid"`
	DriftSteps   *int   `json:"drift_steps"`
	DriftSeconds *int   `json:"drift_seconds"`
}

func TestUserCheck(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	e := d.Enroll(u.Name)

	step := stableStep(t, 5*time.Second)
	now := codeForStep(t, e.Secret, step)
	slow := codeForStep(t, e.Secret, step-4) // a phone two minutes behind

	r := d.Ctl("user", "check", u.Name, now, "--json")
	require.Equal(t, 0, r.Code, "%s", r)
	var ck checkJSON
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &ck))
	require.True(t, ck.Valid)

	r = d.Ctl("user", "check", u.Name, slow, "--json")
	require.Equal(t, 1, r.Code, "a code that is not valid now: %s", r)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &ck))
	require.False(t, ck.Valid)
	require.NotNil(t, ck.DriftSteps)
	require.Equal(t, -4, *ck.DriftSteps)
	require.NotNil(t, ck.DriftSeconds)
	require.Equal(t, -120, *ck.DriftSeconds)

	r = d.Ctl("user", "check", u.Name, wrongCode(t, e.Secret, step), "--json")
	require.Equal(t, 1, r.Code)
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &ck))
	require.Nil(t, ck.DriftSteps, "a wrong code matches no nearby time")

	// Checking used nothing up and counted nothing.
	require.Equal(t, 0, d.Show(u.Name).Failures)
	_, err := d.Verify(u.Name, now)
	require.NoError(t, err, "the checked code still logs in")
}

func TestSelfDisableAndRecoveryCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{MaxFailures: 1000})
	u := newUser(t)
	e := d.Enroll(u.Name)

	step := stableStep(t, 5*time.Second)
	c := codesFrom(t, e.Secret, step, 2)

	// Fresh recovery codes with a current code; the old ones are void.
	var rc confirmJSON
	d.CtlJSON(&u, &rc, "recovery-codes", "--code", c[0], "--json")
	requireRecoveryCodes(t, rc.RecoveryCodes, 10)
	_, err := d.Verify(u.Name, e.RecoveryCodes[0])
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "an old recovery code after a new set")
	r := d.CtlAs(u, "recovery-codes", "--code", c[0])
	require.Equal(t, 1, r.Code, "the code used for the new set is used up: %s", r)
	r = d.CtlAs(u, "recovery-codes")
	require.Equal(t, 2, r.Code, "without --code and no terminal: %s", r)

	// Disable needs a valid code: a wrong one is refused, a recovery code works.
	r = d.CtlAs(u, "disable", "--code", wrongCode(t, e.Secret, step))
	require.Equal(t, 1, r.Code, "%s", r)
	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Enrolled)

	// While the policy requires the user, disable is refused even with a good code.
	d.CtlOK(nil, "user", "require", u.Name, "--grace", "1h")
	r = d.CtlAs(u, "disable", "--code", c[1])
	require.Equal(t, 1, r.Code, "disable while required: %s", r)
	require.Contains(t, r.Stderr, "totpctl user disable "+u.Name)
	d.CtlOK(nil, "user", "exempt", u.Name)

	r = d.CtlAs(u, "disable", "--code", rc.RecoveryCodes[0])
	require.Equal(t, 0, r.Code, "%s", r)
	d.CtlJSON(&u, &st, "status", "--json")
	require.False(t, st.Enrolled)
	require.Equal(t, wire.ActionIgnore, d.Query(u.Name).Action)
	_, err = d.Verify(u.Name, c[1])
	require.Equal(t, wire.ErrCodeNotEnrolled, errCode(err), "the secret is gone")
}

// TestStartupRefusals: a second daemon on the same state or socket, and a
// configuration anyone may write, are refused at start with the reason.
func TestStartupRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})

	// Same socket.
	twin := newDaemon(t, b, config{})
	twin.Socket = d.Socket
	twin.WriteConfig(config{})
	twin.StartProcess()
	stderr, err := twin.WaitExit(10 * time.Second)
	require.Error(t, err)
	require.Contains(t, stderr, "already serving on "+d.Socket)

	// Same state directory.
	twin.StateDir, twin.KeyFile = d.StateDir, d.KeyFile
	twin.Socket = d.Socket + "2"
	twin.WriteConfig(config{})
	twin.StartProcess()
	stderr, err = twin.WaitExit(10 * time.Second)
	require.Error(t, err)
	require.Contains(t, stderr, "in use by another totpd")

	// A world-writable configuration.
	other := newDaemon(t, b, config{})
	require.NoError(t, os.Chmod(other.CfgPath, 0o666))
	other.StartProcess()
	stderr, err = other.WaitExit(10 * time.Second)
	require.Error(t, err)
	require.Contains(t, stderr, other.CfgPath)
	require.Contains(t, stderr, "chmod")

	d.Alive()
	requireServes(t, d, "root")
}
