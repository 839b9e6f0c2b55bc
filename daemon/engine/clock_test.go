package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/wire"
)

// TestClockSteps: the host's clock is stepped back by an hour and forward
// again (a bad NTP server, an admin's `date -s`). A step back never makes
// an accepted code, or any code of an earlier step, work again; the
// failures counted meanwhile stay counted (replays are refused but not
// counted); once the clock is past the last
// accepted step again, the current code is accepted, with no admin action.
func TestClockSteps(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Lockout.MaxFailures = 100 })
	secret := f.enroll(t, "alice")
	used := f.code(t, secret, 0)
	require.Nil(t, f.e.LoginVerify("alice", used, info).Error)

	// An hour back: the code accepted a moment ago is the code of a step
	// in the future now, and still refused; so is the code of "now".
	f.now = f.now.Add(-time.Hour)
	r := f.e.LoginVerify("alice", used, info)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code, "the accepted code after the clock went back an hour")
	r = f.e.LoginVerify("alice", f.code(t, secret, 0), info)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code, "a code of a step before the last accepted one")
	rec, _, err := f.st.Get("alice")
	require.NoError(t, err)
	// The accepted code is an hour away from now, so a wrong code
	// (counted); the code of now is of a step before the last accepted
	// one, a replay (refused, not counted).
	require.Equal(t, 1, rec.Failures)

	// Forward again, an hour and a step past the accepted code.
	f.now = f.now.Add(time.Hour + 30*time.Second)
	require.Nil(t, f.e.LoginVerify("alice", f.code(t, secret, 0), info).Error, "the code of now, once the clock is right again")
	r = f.e.LoginVerify("alice", used, info)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code, "the old code, after the clock came back")

	// Forward by an hour: codes of now work; nothing before them does.
	f.now = f.now.Add(time.Hour)
	require.Nil(t, f.e.LoginVerify("alice", f.code(t, secret, 0), info).Error)
	f.now = f.now.Add(-time.Hour)
	r = f.e.LoginVerify("alice", f.code(t, secret, 30*time.Second), info)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code, "after a step forward and back, a code of the hour before")
}
