package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// TestRecordBelongsToItsUID: alice is enrolled, locked out and exempt as
// uid 1001, then her account is deleted and a new alice made with uid
// 2001. The new account inherits nothing: every op about her is a state
// error, until an admin disables (or enrolls) her, which starts afresh.
func TestRecordBelongsToItsUID(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	accts := fakeAccounts{users: map[string]uint32{"alice": 1001}}
	cfg := config.Default()
	cfg.Policy.Require = "all"
	cfg.Lockout.MaxFailures = 2
	st := newMemStore()
	rec := &audit.Recorder{}
	e := New(cfg, Local(st), Options{Accounts: accts, Audit: rec, Now: func() time.Time { return now }})

	r := e.AdminEnroll("alice", info)
	require.Nil(t, r.Error)
	secret, err := totp.DecodeSecret(r.Enrollment.Secret)
	require.NoError(t, err)
	require.Nil(t, e.Exempt("alice", info).Error)
	stored, _, _ := st.Get("alice")
	require.NotNil(t, stored.UID)
	require.Equal(t, uint32(1001), *stored.UID, "the record names its account's uid")

	accts.users["alice"] = 2001 // userdel alice; useradd -u 2001 alice
	code, err := totp.DefaultParams().Code(secret, now)
	require.NoError(t, err)
	for name, resp := range map[string]*wire.Response{
		"login.query":  e.LoginQuery("alice", info),
		"login.verify": e.LoginVerify("alice", code, info),
		"status":       e.Status("alice", info),
		"unlock":       e.Unlock("alice", info),
	} {
		require.NotNil(t, resp.Error, "%s of the new alice", name)
		require.Equal(t, wire.ErrCodeState, resp.Error.Code, name)
		require.Contains(t, resp.Error.Message, "belongs to uid 1001", name)
		require.Contains(t, resp.Error.Message, "totpctl user disable alice", name)
	}
	require.Contains(t, e.Show("alice", info).Error.Message, "uid 2001")
	users := e.Users(info).Users
	require.Len(t, users, 1)
	require.Contains(t, users[0].StateError, "uid 2001", "totpctl users shows the mismatch")
	audited := 0
	for _, ev := range rec.Snapshot() {
		if ev.Reason == "state of uid 1001, account is uid 2001" {
			require.Contains(t, []string{"denied", "error"}, ev.Result)
			audited++
		}
	}
	require.GreaterOrEqual(t, audited, 4, "each refusal is audited with its reason")

	// The admin's way out: disable starts the new account afresh, with
	// nothing of the old one (not its exemption either: policy requires her).
	require.Nil(t, e.AdminDisable("alice", info).Error)
	stored, _, _ = st.Get("alice")
	require.Equal(t, uint32(2001), *stored.UID)
	require.Nil(t, stored.Secret)
	require.Empty(t, stored.Override, "the old account's exemption is gone")
	q := e.LoginQuery("alice", info)
	require.Nil(t, q.Error)
	require.NotEqual(t, wire.ActionIgnore, q.Action, "the new alice is required, not exempt")
}
