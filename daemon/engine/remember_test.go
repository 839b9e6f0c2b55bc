package engine

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// sshLogin is a root-asked sshd login from 192.0.2.7 with a key.
var sshLogin = Info{Caller: "root", Service: "sshd", RHost: "192.0.2.7", TTY: "ssh", PubKey: "aa11"}

func remembering(d time.Duration) func(*config.Config) {
	return func(c *config.Config) { c.Policy.Remember = config.Duration(d) }
}

// login is one login of user as in: the query, and a code if asked. It
// reports the query's action.
func (f *fixture) login(t *testing.T, user string, secret []byte, in Info) wire.Action {
	t.Helper()
	q := in
	q.Op = wire.OpLoginQuery
	r := f.e.LoginQuery(user, q)
	require.Nil(t, r.Error)
	if r.Action == wire.ActionPrompt {
		in.Op = wire.OpLoginVerify
		v := f.e.LoginVerify(user, f.code(t, secret, 0), in)
		require.Nil(t, v.Error, "the code of a fresh step is accepted")
		f.now = f.now.Add(30 * time.Second) // the next login needs a fresh step
	}
	return r.Action
}

// query is login.query alone.
func (f *fixture) query(t *testing.T, user string, in Info) *wire.Response {
	t.Helper()
	in.Op = wire.OpLoginQuery
	r := f.e.LoginQuery(user, in)
	require.Nil(t, r.Error)
	return r
}

// TestRememberedAfterSuccess: the second login asks no code, is told
// until when, and is audited remembered; nothing is written for it.
func TestRememberedAfterSuccess(t *testing.T) {
	f := newFixture(t, remembering(8*time.Hour))
	secret := f.enroll(t, "alice")
	require.Equal(t, wire.ActionPrompt, f.login(t, "alice", secret, sshLogin))

	seq := f.st.recs["alice"].Seq
	r := f.query(t, "alice", sshLogin)
	require.Equal(t, wire.ActionAllow, r.Action)
	require.Len(t, r.Messages, 1)
	require.Equal(t, "Remembered login: no code needed until 20:00 UTC (this service, this address and key).", r.Messages[0].Text)
	require.Equal(t, seq, f.st.recs["alice"].Seq, "a remembered login writes nothing")
	ev := f.audit.Snapshot()
	last := ev[len(ev)-1]
	require.Equal(t, "remembered", last.Result)
	require.Equal(t, "sshd", last.Service)
	require.Equal(t, "192.0.2.7", last.RHost)

	// Only a hash is stored: neither the address nor the key.
	rec := f.st.recs["alice"]
	require.Len(t, rec.Remembered, 1)
	require.Len(t, rec.Remembered[0].Key, 64)
	require.NotContains(t, rec.Remembered[0].Key, "192.0.2.7")

	// Without a key, the message says what it is bound to.
	noKey := sshLogin
	noKey.PubKey, noKey.Service = "", "openvpn"
	f.login(t, "alice", secret, noKey)
	r = f.query(t, "alice", noKey)
	require.Equal(t, wire.ActionAllow, r.Action)
	require.Contains(t, r.Messages[0].Text, "(this service and this address)")
}

// TestRememberedNeverWithoutRHostOrClaimed: a login without a remote host
// (su, the console) and a login described by a non-root caller are never
// remembered, neither made nor applied.
func TestRememberedNeverWithoutRHostOrClaimed(t *testing.T) {
	f := newFixture(t, remembering(8*time.Hour))
	secret := f.enroll(t, "alice")

	su := Info{Caller: "root", Service: "su", TTY: "/dev/pts/1"}
	require.Equal(t, wire.ActionPrompt, f.login(t, "alice", secret, su))
	require.Equal(t, wire.ActionPrompt, f.login(t, "alice", secret, su))
	require.Empty(t, f.st.recs["alice"].Remembered)

	claimed := sshLogin
	claimed.Caller, claimed.ClaimedBy = "alice", "uid 1001"
	require.Equal(t, wire.ActionPrompt, f.login(t, "alice", secret, claimed))
	require.Empty(t, f.st.recs["alice"].Remembered, "a non-root caller's claim makes no entry")
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", claimed).Action)

	// Root's login is remembered; the same claims from a non-root caller
	// still do not get it.
	require.Equal(t, wire.ActionPrompt, f.login(t, "alice", secret, sshLogin))
	require.Equal(t, wire.ActionAllow, f.query(t, "alice", sshLogin).Action)
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", claimed).Action)

	// forward_pass's one prompt: never remembered, and makes no entry.
	vpn := Info{Caller: "root", Service: "openvpn", RHost: "192.0.2.44", Flow: wire.FlowForwardPass}
	before := len(f.st.recs["alice"].Remembered)
	require.Equal(t, wire.ActionPrompt, f.login(t, "alice", secret, vpn))
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", vpn).Action)
	require.Len(t, f.st.recs["alice"].Remembered, before)
}

// TestRememberedOnlyTheSameLogin: another user, service, address or key
// asks again; remember = 0s ignores existing entries.
func TestRememberedOnlyTheSameLogin(t *testing.T) {
	f := newFixture(t, remembering(time.Hour))
	secret := f.enroll(t, "alice")
	f.enroll(t, "bob")
	f.login(t, "alice", secret, sshLogin)
	require.Equal(t, wire.ActionAllow, f.query(t, "alice", sshLogin).Action)
	require.Equal(t, wire.ActionPrompt, f.query(t, "bob", sshLogin).Action)
	for name, edit := range map[string]func(*Info){
		"service": func(i *Info) { i.Service = "login" },
		"rhost":   func(i *Info) { i.RHost = "192.0.2.8" },
		"key":     func(i *Info) { i.PubKey = "bb22" },
		"no key":  func(i *Info) { i.PubKey = "" },
		"shifted": func(i *Info) { i.Service, i.RHost = "sshd1", "92.0.2.7" }, // length-prefixed parts
	} {
		other := sshLogin
		edit(&other)
		require.Equal(t, wire.ActionPrompt, f.query(t, "alice", other).Action, name)
	}
	cfg := f.e.Config()
	cfg.Policy.Remember = 0
	f.e.SetConfig(cfg)
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action, "remember = 0s ignores the entries")
}

// TestRememberedExpiry: up to remember after the code, not after; a
// shorter remember in force shortens entries already made; a clock
// stepped back before the code does not use it; expired entries are
// pruned at the next save; at most MaxRemembered are kept.
func TestRememberedExpiry(t *testing.T) {
	f := newFixture(t, remembering(time.Hour))
	secret := f.enroll(t, "alice")
	start := f.now
	f.login(t, "alice", secret, sshLogin)
	f.now = start.Add(time.Hour - time.Second)
	require.Equal(t, wire.ActionAllow, f.query(t, "alice", sshLogin).Action)
	f.now = start.Add(time.Hour)
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action)

	f.now = start.Add(2 * time.Hour)
	f.login(t, "alice", secret, sshLogin)
	f.now = f.now.Add(20 * time.Minute)
	require.Equal(t, wire.ActionAllow, f.query(t, "alice", sshLogin).Action)
	cfg := f.e.Config()
	cfg.Policy.Remember = config.Duration(10 * time.Minute)
	f.e.SetConfig(cfg)
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action, "the shorter remember in force applies")
	cfg.Policy.Remember = config.Duration(time.Hour)
	f.e.SetConfig(cfg)
	back := f.now
	f.now = start.Add(time.Hour) // the clock stepped back before the code
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action)
	f.now = back

	// Expired entries go at the next save.
	other := sshLogin
	other.RHost = "192.0.2.99"
	f.now = f.now.Add(2 * time.Hour)
	f.login(t, "alice", secret, other)
	rec := f.st.recs["alice"]
	require.Len(t, rec.Remembered, 1, "the expired entry was pruned")

	// The oldest go past MaxRemembered.
	for i := 0; i < MaxRemembered+3; i++ {
		in := sshLogin
		in.RHost = "198.51.100." + string(rune('a'+i))
		f.login(t, "alice", secret, in)
	}
	rec = f.st.recs["alice"]
	require.Len(t, rec.Remembered, MaxRemembered)
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", other).Action, "the oldest went")
	last := sshLogin
	last.RHost = "198.51.100." + string(rune('a'+MaxRemembered+2))
	require.Equal(t, wire.ActionAllow, f.query(t, "alice", last).Action)
}

// TestRememberedDrops: a lockout, an admin disable, a re-enrollment,
// an import and forget each drop the remembered logins.
func TestRememberedDrops(t *testing.T) {
	for name, drop := range map[string]func(f *fixture, t *testing.T) []byte{
		"lockout": func(f *fixture, t *testing.T) []byte {
			in := Info{Op: wire.OpLoginVerify, Caller: "root", Service: "sshd", RHost: "203.0.113.1"}
			for i := 0; i < f.e.Config().Lockout.MaxFailures; i++ {
				f.e.LoginVerify("alice", "000000", in)
			}
			require.True(t, f.st.recs["alice"].LockedUntil.After(f.now))
			require.Nil(t, f.e.Unlock("alice", info).Error)
			return nil
		},
		"admin disable": func(f *fixture, t *testing.T) []byte {
			require.Nil(t, f.e.AdminDisable("alice", info).Error)
			return f.enroll(t, "alice")
		},
		"re-enroll": func(f *fixture, t *testing.T) []byte { return f.enroll(t, "alice") },
		"forget": func(f *fixture, t *testing.T) []byte {
			r := f.e.Forget("alice", Info{Op: wire.OpUserForget, Caller: "root"})
			require.Nil(t, r.Error)
			require.Equal(t, 1, *r.Forgotten)
			require.Contains(t, r.Messages[0].Text, "alice's remembered logins are forgotten (1)")
			return nil
		},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, remembering(time.Hour))
			secret := f.enroll(t, "alice")
			f.login(t, "alice", secret, sshLogin)
			require.Equal(t, wire.ActionAllow, f.query(t, "alice", sshLogin).Action)
			if s := drop(f, t); s != nil {
				secret = s
			}
			require.Empty(t, f.st.recs["alice"].Remembered)
			require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action, "dropped by %s", name)
			_ = secret
		})
	}
	// An entry made before the last drop is void even if it comes
	// back (a fleet host's write-back of an old copy).
	f := newFixture(t, remembering(time.Hour))
	secret := f.enroll(t, "alice")
	f.login(t, "alice", secret, sshLogin)
	old := f.st.recs["alice"].Remembered
	f.now = f.now.Add(time.Minute)
	require.Nil(t, f.e.Forget("alice", info).Error)
	rec := f.st.recs["alice"]
	rec.Remembered = old
	f.st.recs["alice"] = rec
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action)
}

// TestRememberedSurvivesRestart: the entry is in the user's durable
// record, so a new engine over the reopened store lets the login in.
func TestRememberedSurvivesRestart(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	dir := t.TempDir()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	accts := fakeAccounts{users: map[string]uint32{"alice": 1001}}
	open := func() (*store.Store, *Engine) {
		st, err := store.Open(dir, key, store.Options{Logf: t.Logf})
		require.NoError(t, err)
		cfg := config.Default()
		cfg.Policy.Remember = config.Duration(time.Hour)
		return st, New(cfg, Local(st), Options{Accounts: accts, Now: func() time.Time { return now }})
	}
	st, e := open()
	secret := adminEnroll(t, e, "alice")
	q := sshLogin
	q.Op = wire.OpLoginQuery
	require.Equal(t, wire.ActionPrompt, e.LoginQuery("alice", q).Action)
	require.Nil(t, e.LoginVerify("alice", codeAt(t, secret, now), sshLogin).Error)
	require.NoError(t, st.Close())

	now = now.Add(10 * time.Minute)
	st, e = open()
	defer st.Close()
	require.Equal(t, wire.ActionAllow, e.LoginQuery("alice", q).Action)
}

// TestUniteRemembered: fleet mode's write-back keeps both sides' entries,
// the later of one key, and none made before the later drop.
func TestUniteRemembered(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	r := func(k string, m int) store.Remembered {
		at := t0.Add(time.Duration(m) * time.Minute)
		return store.Remembered{Key: k, At: at, Until: at.Add(time.Hour)}
	}
	list, forget := UniteRemembered([]store.Remembered{r("a", 1), r("b", 2)}, time.Time{}, []store.Remembered{r("b", 5), r("c", 3)}, time.Time{})
	require.Equal(t, []store.Remembered{r("a", 1), r("c", 3), r("b", 5)}, list)
	require.True(t, forget.IsZero())

	list, forget = UniteRemembered([]store.Remembered{r("a", 1)}, t0.Add(4*time.Minute), []store.Remembered{r("b", 2), r("c", 6)}, t0)
	require.Equal(t, []store.Remembered{r("c", 6)}, list, "the later drop voids what came before it, from either side")
	require.Equal(t, t0.Add(4*time.Minute), forget)
}

// TestRememberedFromAClockAhead: an entry made while the clock ran 30
// days ahead is not used once the clock is set back, is pruned at the
// next save, and so does not come back to life when the real time
// reaches it; nor does one spanning more than MaxRemember.
func TestRememberedFromAClockAhead(t *testing.T) {
	f := newFixture(t, remembering(time.Hour))
	secret := f.enroll(t, "alice")
	real := f.now
	f.now = real.Add(30 * 24 * time.Hour)
	require.Equal(t, wire.ActionPrompt, f.login(t, "alice", secret, sshLogin))
	require.Len(t, f.st.recs["alice"].Remembered, 1)

	f.now = real.Add(time.Minute) // NTP sets the clock right
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action)
	r := f.e.LoginVerify("alice", "000000", Info{Caller: "root", Service: "sshd", RHost: "192.0.2.7"})
	require.NotNil(t, r.Error, "a wrong code: a save")
	require.Empty(t, f.st.recs["alice"].Remembered, "the entry from the future is pruned at the save")
	f.now = real.Add(30*24*time.Hour + time.Minute)
	require.Equal(t, wire.ActionPrompt, f.query(t, "alice", sshLogin).Action, "and does not come back")

	at := f.now
	united, _ := UniteRemembered(nil, time.Time{}, []store.Remembered{{Key: "k", At: at, Until: at.Add(48 * time.Hour)}}, time.Time{})
	require.Empty(t, united, "an entry spanning more than MaxRemember is no daemon's")
}
