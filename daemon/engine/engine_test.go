package engine

import (
	"errors"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// memStore is an in-memory Store; failPut makes every Put fail like a full disk.
type memStore struct {
	mu      sync.Mutex
	recs    map[string]store.Record
	broken  map[string]bool
	failPut bool
}

func newMemStore() *memStore {
	return &memStore{recs: map[string]store.Record{}, broken: map[string]bool{}}
}

func (m *memStore) Get(u string) (store.Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken[u] {
		return store.Record{}, false, errors.New("tampered")
	}
	r, ok := m.recs[u]
	return r, ok, nil
}

func (m *memStore) Put(r store.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failPut {
		return errors.New("no space left on device")
	}
	m.recs[r.User] = r
	return nil
}

func (m *memStore) Users() ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for u := range m.recs {
		out = append(out, u)
	}
	sort.Strings(out)
	return out, nil
}

// fakeAccounts knows a fixed set of users and group memberships.
type fakeAccounts struct {
	users  map[string]uint32
	groups map[string][]string // group → members
}

func (f fakeAccounts) User(name string) (Account, error) {
	uid, ok := f.users[name]
	if !ok {
		return Account{}, ErrNoAccount
	}
	return Account{Name: name, UID: uid}, nil
}

func (f fakeAccounts) UID(uid uint32) (Account, error) {
	for n, u := range f.users {
		if u == uid {
			return Account{Name: n, UID: u}, nil
		}
	}
	return Account{}, ErrNoAccount
}

func (f fakeAccounts) InGroup(a Account, g string) (bool, error) {
	for _, m := range f.groups[g] {
		if m == a.Name {
			return true, nil
		}
	}
	return false, nil
}

type fixture struct {
	e     *Engine
	st    *memStore
	now   time.Time
	audit *audit.Recorder
}

func newFixture(t *testing.T, edit func(*config.Config)) *fixture {
	t.Helper()
	cfg := config.Default()
	if edit != nil {
		edit(&cfg)
	}
	f := &fixture{st: newMemStore(), now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC), audit: &audit.Recorder{}}
	accts := fakeAccounts{
		users:  map[string]uint32{"alice": 1001, "bob": 1002, "carol": 1003},
		groups: map[string][]string{"ops": {"alice"}, "robots": {"carol"}},
	}
	f.e = New(cfg, Local(f.st), Options{Accounts: accts, Audit: f.audit, Now: func() time.Time { return f.now }})
	return f
}

var info = Info{Op: wire.OpLoginVerify, Caller: "root", Service: "test"}

// enroll gives user an active secret through the admin path and reports it.
func (f *fixture) enroll(t *testing.T, user string) []byte { return adminEnroll(t, f.e, user) }

func (f *fixture) code(t *testing.T, secret []byte, offset time.Duration) string {
	return codeAt(t, secret, f.now.Add(offset))
}

// adminEnroll enrolls user on e through the admin path and reports the secret.
func adminEnroll(t *testing.T, e *Engine, user string) []byte {
	t.Helper()
	r := e.AdminEnroll(user, info)
	require.Nil(t, r.Error)
	secret, err := totp.DecodeSecret(r.Enrollment.Secret)
	require.NoError(t, err)
	return secret
}

// codeAt reports secret's code at the instant at.
func codeAt(t *testing.T, secret []byte, at time.Time) string {
	t.Helper()
	c, err := totp.DefaultParams().Code(secret, at)
	require.NoError(t, err)
	return c
}

func TestVerifyAcceptReplayWrong(t *testing.T) {
	f := newFixture(t, func(c *config.Config) { c.Lockout.MaxFailures = 100 })
	secret := f.enroll(t, "alice")
	c := f.code(t, secret, 0)
	require.Nil(t, f.e.LoginVerify("alice", c, info).Error)
	r := f.e.LoginVerify("alice", c, info)
	require.NotNil(t, r.Error)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code)
	require.Contains(t, r.Error.Message, "already used")
	// An older step is a replay too, even though it was never sent.
	r = f.e.LoginVerify("alice", f.code(t, secret, -30*time.Second), info)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code)
	// A wrong-format code is refused and counted.
	for _, bad := range []string{"12345", "1234567", "12a456", " 123456", "123 456", ""} {
		r = f.e.LoginVerify("alice", bad, info)
		require.NotNil(t, r.Error, bad)
	}
	rec, _, _ := f.st.Get("alice")
	require.Equal(t, 6, rec.Failures, "the malformed codes count; the two replays are refused but not counted")
}

// TestDriftNeverLocksOut follows a phone whose clock gains a step at each
// login until it is MaxDriftSteps ahead, each code accepted so that the
// recorded drift follows it, and whose clock is then set right. Its correct
// code is refused only while it is for a step already used (RFC 6238 §5.2),
// and accepted once the clock has passed those steps, with no admin action.
func TestDriftNeverLocksOut(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.enroll(t, "alice")
	step := totp.DefaultParams().Period
	for ahead := 1; ahead <= MaxDriftSteps; ahead++ {
		f.now = f.now.Add(step)
		r := f.e.LoginVerify("alice", f.code(t, secret, time.Duration(ahead)*step), info)
		require.Nil(t, r.Error, "phone %d steps ahead", ahead)
		rec, _, _ := f.st.Get("alice")
		require.Equal(t, ahead, rec.DriftSteps, "the recorded drift follows the phone")
	}
	used := f.now.Add(MaxDriftSteps * step) // the last step accepted

	// The clock is set right: its code is for now, a step already used.
	r := f.e.LoginVerify("alice", f.code(t, secret, 0), info)
	require.NotNil(t, r.Error)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code)
	require.Contains(t, r.Error.Message, "already used", "told to wait, not that the code is wrong")

	// Once the clock passes the used steps, now's code is accepted and the
	// drift is back to 0; the next step's code follows without a drift.
	f.now = used.Add(step)
	require.Nil(t, f.e.LoginVerify("alice", f.code(t, secret, 0), info).Error)
	rec, _, _ := f.st.Get("alice")
	require.Zero(t, rec.DriftSteps)
	require.Zero(t, rec.Failures)
	f.now = f.now.Add(step)
	require.Nil(t, f.e.LoginVerify("alice", f.code(t, secret, 0), info).Error)
}

func TestLockoutRule(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Lockout.MaxFailures = 3
		c.Lockout.Duration = config.Duration(time.Minute)
	})
	secret := f.enroll(t, "alice")
	for i := 0; i < 2; i++ {
		r := f.e.LoginVerify("alice", "000000", info)
		require.Equal(t, wire.ErrCodeDenied, r.Error.Code)
	}
	r := f.e.LoginVerify("alice", "000000", info)
	require.Equal(t, wire.ErrCodeLocked, r.Error.Code)
	require.True(t, r.Locked)
	// Locked: the right code is refused and the query says deny.
	r = f.e.LoginVerify("alice", f.code(t, secret, 0), info)
	require.Equal(t, wire.ErrCodeLocked, r.Error.Code)
	require.Equal(t, wire.ActionDeny, f.e.LoginQuery("alice", info).Action)
	// The lock runs out; the count starts again from zero.
	f.now = f.now.Add(61 * time.Second)
	require.Equal(t, wire.ActionPrompt, f.e.LoginQuery("alice", info).Action)
	r = f.e.LoginVerify("alice", "000000", info)
	require.Equal(t, wire.ErrCodeDenied, r.Error.Code)
	require.Nil(t, f.e.LoginVerify("alice", f.code(t, secret, 0), info).Error)
	rec, _, _ := f.st.Get("alice")
	require.Zero(t, rec.Failures)
}

func TestLockoutUntilAdmin(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Lockout.MaxFailures = 1
		c.Lockout.Duration = 0
	})
	secret := f.enroll(t, "alice")
	require.True(t, f.e.LoginVerify("alice", "000000", info).Locked)
	f.now = f.now.Add(365 * 24 * time.Hour)
	require.Equal(t, wire.ActionDeny, f.e.LoginQuery("alice", info).Action)
	require.Nil(t, f.e.Unlock("alice", info).Error)
	require.Nil(t, f.e.LoginVerify("alice", f.code(t, secret, 0), info).Error)
}

func TestPolicy(t *testing.T) {
	day := config.Duration(24 * time.Hour)
	cases := []struct {
		name string
		edit func(*config.Config)
		user string
		want wire.Action
	}{
		{"none ignores", nil, "alice", wire.ActionIgnore},
		{"all in grace", func(c *config.Config) { c.Policy.Require = "all"; c.Policy.GracePeriod = day }, "bob", wire.ActionAllow},
		{"all past deadline", func(c *config.Config) { c.Policy.Require = "all"; c.Policy.GracePeriod = 0 }, "bob", wire.ActionDeny},
		{"enroll at login", func(c *config.Config) {
			c.Policy.Require = "all"
			c.Policy.GracePeriod = 0
			c.Policy.EnrollAtLogin = true
		}, "bob", wire.ActionEnroll},
		{"groups member", func(c *config.Config) { c.Policy.Require = "groups"; c.Policy.Groups = []string{"ops"} }, "alice", wire.ActionAllow},
		{"groups non-member", func(c *config.Config) { c.Policy.Require = "groups"; c.Policy.Groups = []string{"ops"} }, "bob", wire.ActionIgnore},
		{"exempt user", func(c *config.Config) { c.Policy.Require = "all"; c.Policy.ExemptUsers = []string{"bob"} }, "bob", wire.ActionIgnore},
		{"exempt group", func(c *config.Config) { c.Policy.Require = "all"; c.Policy.ExemptGroups = []string{"robots"} }, "carol", wire.ActionIgnore},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.edit)
			r := f.e.LoginQuery(tc.user, info)
			require.Nil(t, r.Error)
			require.Equal(t, tc.want, r.Action)
			switch tc.want {
			case wire.ActionAllow:
				require.Contains(t, r.Messages[0].Text, "totpctl enroll")
			case wire.ActionDeny:
				require.Contains(t, r.Messages[0].Text, "totpctl user enroll "+tc.user)
			}
		})
	}
}

func TestGraceDeadlineAndAdminDisable(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Policy.Require = "all"
		c.Policy.GracePeriod = config.Duration(time.Hour)
	})
	require.Equal(t, wire.ActionAllow, f.e.LoginQuery("bob", info).Action)
	f.now = f.now.Add(59 * time.Minute)
	require.Equal(t, wire.ActionAllow, f.e.LoginQuery("bob", info).Action)
	f.now = f.now.Add(2 * time.Minute)
	require.Equal(t, wire.ActionDeny, f.e.LoginQuery("bob", info).Action)
	require.Nil(t, f.e.AdminDisable("bob", info).Error)
	require.Equal(t, wire.ActionAllow, f.e.LoginQuery("bob", info).Action)
	// Per-user overrides.
	require.Nil(t, f.e.Exempt("bob", info).Error)
	require.Equal(t, wire.ActionIgnore, f.e.LoginQuery("bob", info).Action)
	require.Nil(t, f.e.Require("bob", "2m", info).Error)
	require.Equal(t, wire.ActionAllow, f.e.LoginQuery("bob", info).Action)
	f.now = f.now.Add(3 * time.Minute)
	require.Equal(t, wire.ActionDeny, f.e.LoginQuery("bob", info).Action)
	require.Equal(t, wire.ErrCodeBadRequest, f.e.Require("bob", "soon", info).Error.Code)
	// --grace 0s means required now, not "the configured grace".
	require.Nil(t, f.e.Require("bob", "0s", info).Error)
	require.Equal(t, wire.ActionDeny, f.e.LoginQuery("bob", info).Action)
}

func TestEnrollBeginConfirm(t *testing.T) {
	for _, n := range []int{1, 2} {
		f := newFixture(t, func(c *config.Config) { c.Enroll.ConfirmCodes = n })
		r := f.e.EnrollBegin("alice", info, false)
		require.Nil(t, r.Error)
		require.Equal(t, n, r.Enrollment.ConfirmCodes)
		secret, err := totp.DecodeSecret(r.Enrollment.Secret)
		require.NoError(t, err)
		k, err := totp.ParseURI(r.Enrollment.URI)
		require.NoError(t, err)
		require.Equal(t, secret, k.Secret)
		require.Equal(t, "alice", k.Account)

		var codes []string
		for i := n - 1; i >= 0; i-- {
			codes = append(codes, f.code(t, secret, -time.Duration(i)*30*time.Second))
		}
		bad := append([]string(nil), codes...)
		bad[0] = "000000"
		require.Equal(t, wire.ErrCodeDenied, f.e.EnrollConfirm("alice", bad, info, false).Error.Code)
		r = f.e.EnrollConfirm("alice", codes, info, false)
		require.Nil(t, r.Error)
		require.Len(t, r.Enrollment.RecoveryCodes, 10)
		// The confirming code cannot log in afterwards.
		require.Equal(t, wire.ErrCodeDenied, f.e.LoginVerify("alice", codes[n-1], info).Error.Code)
		// A recovery code works once.
		rc := r.Enrollment.RecoveryCodes[3]
		require.Nil(t, f.e.LoginVerify("alice", rc, info).Error)
		require.Equal(t, wire.ErrCodeDenied, f.e.LoginVerify("alice", rc, info).Error.Code)
		require.Equal(t, wire.ErrCodeDenied, f.e.EnrollBegin("alice", info, false).Error.Code)
	}
}

func TestEnrollAtLoginOnlyPastDeadline(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Policy.Require = "all"
		c.Policy.GracePeriod = config.Duration(time.Hour)
		c.Policy.EnrollAtLogin = true
	})
	require.Equal(t, wire.ActionAllow, f.e.LoginQuery("bob", info).Action)
	require.Equal(t, wire.ErrCodePermission, f.e.EnrollBegin("bob", info, true).Error.Code)
	f.now = f.now.Add(2 * time.Hour)
	require.Nil(t, f.e.EnrollBegin("bob", info, true).Error)
}

func TestFailClosed(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.enroll(t, "alice")
	f.st.failPut = true
	r := f.e.LoginVerify("alice", f.code(t, secret, 0), info)
	require.Equal(t, wire.ErrCodeInternal, r.Error.Code, "an accepted code that cannot be recorded is refused")
	f.st.failPut = false
	f.st.broken["alice"] = true
	require.Equal(t, wire.ErrCodeState, f.e.LoginQuery("alice", info).Error.Code)
	require.Equal(t, wire.ErrCodeState, f.e.LoginVerify("alice", f.code(t, secret, 0), info).Error.Code)
	require.Equal(t, wire.ErrCodeNoUser, f.e.LoginQuery("mallory", info).Error.Code)
	require.Equal(t, wire.ErrCodeBadRequest, f.e.LoginQuery("../etc", info).Error.Code)
}

func TestCheckChangesNothing(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.enroll(t, "alice")
	before, _, _ := f.st.Get("alice")
	r := f.e.Check("alice", f.code(t, secret, 0), info)
	require.True(t, r.Check.Valid)
	r = f.e.Check("alice", f.code(t, secret, 5*time.Minute), info)
	require.False(t, r.Check.Valid)
	require.NotNil(t, r.Check.DriftSteps)
	require.Equal(t, 10, *r.Check.DriftSteps)
	after, _, _ := f.st.Get("alice")
	require.Equal(t, before, after)
}

func TestDisableNeedsCodeAndNotRequired(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.enroll(t, "alice")
	require.Equal(t, wire.ErrCodeDenied, f.e.Disable("alice", "000000", info).Error.Code)
	require.Nil(t, f.e.Disable("alice", f.code(t, secret, 0), info).Error)
	require.Equal(t, wire.ActionIgnore, f.e.LoginQuery("alice", info).Action)

	g := newFixture(t, func(c *config.Config) { c.Policy.Require = "all" })
	secret = g.enroll(t, "alice")
	require.Equal(t, wire.ErrCodeRequired, g.e.Disable("alice", g.code(t, secret, 0), info).Error.Code)
}

func TestAuditHasNoCodes(t *testing.T) {
	f := newFixture(t, nil)
	secret := f.enroll(t, "alice")
	c := f.code(t, secret, 0)
	f.e.LoginVerify("alice", c, info)
	f.e.LoginVerify("alice", "999999", info)
	for _, ev := range f.audit.Snapshot() {
		require.NotContains(t, ev.String(), c)
		require.NotContains(t, ev.String(), "999999")
		require.NotContains(t, ev.String(), totp.EncodeSecret(secret))
	}
}

func TestStatusUsersAndRecoveryCodes(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Policy.Require = "groups"
		c.Policy.Groups = []string{"ops"}
		c.Policy.GracePeriod = config.Duration(48 * time.Hour)
	})
	// alice is required (ops) and not enrolled: status records the deadline.
	st := f.e.Status("alice", info).Status
	require.True(t, st.Required)
	require.False(t, st.Enrolled)
	require.NotNil(t, st.Deadline)
	require.Equal(t, f.now.Add(48*time.Hour), *st.Deadline)

	secret := f.enroll(t, "bob")
	f.now = f.now.Add(time.Minute)
	r := f.e.RecoveryCodes("bob", f.code(t, secret, 0), info)
	require.Nil(t, r.Error)
	require.Len(t, r.Enrollment.RecoveryCodes, 10)
	require.Equal(t, wire.ErrCodeDenied, f.e.RecoveryCodes("bob", "000000", info).Error.Code)

	users := f.e.Users(info).Users
	require.Len(t, users, 2)
	require.Equal(t, "alice", users[0].User)
	require.Equal(t, "bob", users[1].User)
	require.True(t, users[1].Enrolled)
	require.False(t, users[1].Required)
	require.Equal(t, 1, users[1].Failures)
	require.Equal(t, 10, users[1].RecoveryCodes)

	f.st.broken["bob"] = true
	users = f.e.Users(info).Users
	require.NotEmpty(t, users[1].StateError, "an unreadable user is listed, not hidden")
	require.Equal(t, wire.ErrCodeState, f.e.Show("bob", info).Error.Code)
}

// TestAddFailures: failures counted elsewhere (fleet mode's write-back)
// follow the same lockout rule as one counted here.
func TestAddFailures(t *testing.T) {
	f := newFixture(t, func(c *config.Config) {
		c.Lockout.MaxFailures = 3
		c.Lockout.Duration = config.Duration(time.Minute)
	})
	rec := store.Record{User: "alice", Failures: 1}
	f.e.AddFailures(&rec, 1)
	require.Equal(t, 2, rec.Failures)
	require.True(t, rec.LockedUntil.IsZero(), "below max_failures: not locked")
	f.e.AddFailures(&rec, 1)
	require.Equal(t, f.now.Add(time.Minute), rec.LockedUntil, "the sum reached max_failures: locked")

	// A lock that has run out starts the count afresh before adding.
	f.now = f.now.Add(2 * time.Minute)
	f.e.AddFailures(&rec, 2)
	require.Equal(t, 2, rec.Failures)
	require.True(t, rec.LockedUntil.IsZero())

	// A lock in force is not moved.
	locked := store.Record{User: "alice", Failures: 3, LockedUntil: f.now.Add(30 * time.Second)}
	f.e.AddFailures(&locked, 5)
	require.Equal(t, f.now.Add(30*time.Second), locked.LockedUntil)
	f.e.AddFailures(&locked, 0)
	require.Equal(t, 8, locked.Failures)
}
