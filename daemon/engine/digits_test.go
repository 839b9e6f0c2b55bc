package engine

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/wire"
)

// TestLoginQueryDigits: a prompt says how long the user's codes are, from
// the user's own record (what they enrolled with), not from the config of
// the day, so the module's forward_pass cuts the right number of digits
// off "password and code". Other actions say nothing of it.
func TestLoginQueryDigits(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.TOTP.Digits = 8 })
	f.enroll(t, "alice")
	q := f.e.LoginQuery("alice", info)
	require.Equal(t, wire.ActionPrompt, q.Action)
	require.Equal(t, 8, q.Digits)

	cfg := config.Default()
	require.Equal(t, 6, cfg.TOTP.Digits)
	f.e.SetConfig(cfg)
	require.Equal(t, 8, f.e.LoginQuery("alice", info).Digits, "alice enrolled with 8 digits and keeps them")
	f.enroll(t, "bob")
	require.Equal(t, 6, f.e.LoginQuery("bob", info).Digits)

	q = f.e.LoginQuery("carol", info) // not enrolled, not required
	require.Equal(t, wire.ActionIgnore, q.Action)
	require.Zero(t, q.Digits)
}
