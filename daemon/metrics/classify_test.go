package metrics

import (
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// accounts is a fixed user database whose uids a test can change.
type accounts struct {
	mu   sync.Mutex
	uids map[string]uint32
}

func (a *accounts) User(name string) (engine.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if uid, ok := a.uids[name]; ok {
		return engine.Account{Name: name, UID: uid}, nil
	}
	return engine.Account{}, engine.ErrNoAccount
}

func (a *accounts) UID(uid uint32) (engine.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for n, u := range a.uids {
		if u == uid {
			return engine.Account{Name: n, UID: u}, nil
		}
	}
	return engine.Account{}, engine.ErrNoAccount
}

func (a *accounts) InGroup(engine.Account, string) (bool, error) { return false, nil }

// rig is a real engine over a real store in a temporary directory, its
// audit going through a Registry, as daemon.Run puts them together.
type rig struct {
	r    *Registry
	e    *engine.Engine
	acct *accounts
	now  time.Time
	rec  *audit.Recorder
}

func newRig(t *testing.T, edit func(*config.Config)) *rig {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	g := &rig{r: New(), now: time.Now(), rec: &audit.Recorder{},
		acct: &accounts{uids: map[string]uint32{"alice": 1001, "bob": 1002, "carol": 1003, "dave": 1004, "erin": 1005}}}
	st, err := store.Open(t.TempDir(), key, store.Options{SyncObserver: g.r.ObserveSync, Logf: t.Logf})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	if edit != nil {
		edit(&cfg)
	}
	g.e = engine.New(cfg, engine.Local(st), engine.Options{Accounts: g.acct, Audit: g.r.Audit(g.rec), Now: func() time.Time { return g.now }, Logf: t.Logf, Metrics: g.r.Text})
	g.r.SetUsers(g.e.CountUsers)
	return g
}

func in(op wire.Op) engine.Info { return engine.Info{Op: op, Caller: "root", Service: "test"} }

func (g *rig) code(t *testing.T, secret string, offset time.Duration) string {
	t.Helper()
	s, err := totp.DecodeSecret(secret)
	require.NoError(t, err)
	c, err := totp.DefaultParams().Code(s, g.now.Add(offset))
	require.NoError(t, err)
	return c
}

// wrongCode reports a code of the right shape that no step near now has.
func (g *rig) wrongCode(t *testing.T, secret string) string {
	t.Helper()
	near := map[string]bool{}
	for i := -3; i <= 3; i++ {
		near[g.code(t, secret, time.Duration(i)*30*time.Second)] = true
	}
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !near[c] {
			return c
		}
	}
	t.Fatal("no wrong code")
	return ""
}

// The counters read the reasons the real engine audits: every path of
// a login's verification, the lockout, a recovery code, and each kind of
// enrollment (a dry-run import not counted) moves exactly its counter,
// over a real store whose fdatasyncs reach the histogram. A reworded
// reason in the engine fails here rather than counting as "refused".
func TestClassifyEngineReasons(t *testing.T) {
	g := newRig(t, func(c *config.Config) {
		c.Lockout.MaxFailures = 3
		c.Recovery.Codes = 2
		c.Policy.Require = config.RequireAll
		c.Policy.ExemptUsers = []string{"alice", "carol", "dave", "erin"}
		c.Policy.GracePeriod = 0
		c.Policy.EnrollAtLogin = true
	})
	want := map[string]float64{}
	check := func(step string) {
		t.Helper()
		text, err := g.r.Text()
		require.NoError(t, err)
		fams := parse(t, text)
		for _, res := range verificationResults {
			require.Equal(t, want["v."+res], value(t, fams, nameVerifications, "result", res), "%s: verifications{result=%q}", step, res)
		}
		for _, k := range enrollmentKinds {
			require.Equal(t, want["e."+k], value(t, fams, nameEnrollments, "kind", k), "%s: enrollments{kind=%q}", step, k)
		}
		require.Equal(t, want["lockouts"], value(t, fams, nameLockouts, "", ""), "%s: lockouts", step)
		require.Equal(t, want["recovery"], value(t, fams, nameRecoveryUsed, "", ""), "%s: recovery codes used", step)
	}
	verify := func(user, code string) *wire.Response {
		return g.e.LoginVerify(user, code, in(wire.OpLoginVerify))
	}

	r := g.e.AdminEnroll("alice", in(wire.OpUserEnroll))
	require.Nil(t, r.Error)
	secret, recovery := r.Enrollment.Secret, r.Enrollment.RecoveryCodes
	want["e.admin"]++
	check("admin enroll")

	good := g.code(t, secret, 0)
	require.Nil(t, verify("alice", good).Error)
	want["v.ok"]++
	check("a good code")

	require.Equal(t, wire.ErrCodeDenied, verify("alice", good).Error.Code)
	want["v.replay"]++
	check("the same code again")

	require.NotNil(t, verify("alice", "12ab56").Error)
	want["v.malformed"]++
	check("a malformed code")

	wrong := g.wrongCode(t, secret)
	require.Equal(t, wire.ErrCodeDenied, verify("alice", wrong).Error.Code)
	want["v.wrong"]++
	check("a wrong code")

	require.Equal(t, wire.ErrCodeLocked, verify("alice", wrong).Error.Code, "the third failure locks")
	want["v.wrong"]++
	want["lockouts"]++
	check("the failure that locks")

	g.now = g.now.Add(30 * time.Second)
	require.Equal(t, wire.ErrCodeLocked, verify("alice", g.code(t, secret, 0)).Error.Code)
	want["v.locked"]++
	check("a good code while locked")

	require.Nil(t, g.e.Unlock("alice", in(wire.OpUserUnlock)).Error)
	require.Nil(t, verify("alice", recovery[0]).Error)
	want["v.ok"]++
	want["recovery"]++
	check("a recovery code")

	require.Equal(t, wire.ErrCodeNotEnrolled, verify("bob", "123456").Error.Code)
	want["v.not_enrolled"]++
	require.Equal(t, wire.ErrCodeNoUser, verify("nobody", "123456").Error.Code)
	want["v.refused"]++
	check("not enrolled, no account")

	// Self enrollment (carol), and enrollment at login (bob, required
	// and past a zero grace period).
	r = g.e.EnrollBegin("carol", in(wire.OpEnrollBegin), false)
	require.Nil(t, r.Error)
	require.Nil(t, g.e.EnrollConfirm("carol", []string{g.code(t, r.Enrollment.Secret, 0)}, in(wire.OpEnrollConfirm), false).Error)
	want["e.self"]++
	r = g.e.EnrollBegin("bob", in(wire.OpLoginEnrollBegin), true)
	require.Nil(t, r.Error)
	require.Nil(t, g.e.EnrollConfirm("bob", []string{g.code(t, r.Enrollment.Secret, 0)}, in(wire.OpLoginEnrollConfirm), true).Error)
	want["e.login"]++
	check("self and login enrollment")

	imp := &wire.ImportSecret{Source: wire.ImportOath, Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", Algorithm: "SHA1", Digits: 6, PeriodSec: 30, Window: -1, LastStep: -1, DryRun: true}
	require.Nil(t, g.e.Import("dave", imp, in(wire.OpImport)).Error)
	check("an import --dry-run enrolls no one")
	imp.DryRun = false
	require.Nil(t, g.e.Import("dave", imp, in(wire.OpImport)).Error)
	want["e.import"]++
	check("an import")

	// The account re-created with another uid: a state error.
	g.acct.mu.Lock()
	g.acct.uids["alice"] = 2001
	g.acct.mu.Unlock()
	require.Equal(t, wire.ErrCodeState, verify("alice", g.code(t, secret, 0)).Error.Code)
	want["v.error"]++
	check("a state error")

	// Every one of those events was passed on to the next logger.
	require.NotEmpty(t, g.rec.Snapshot())

	// Each saved record was one fdatasync of the real journal.
	text, err := g.r.Text()
	require.NoError(t, err)
	h := parse(t, text)[nameSync].Metric[0].Histogram
	require.GreaterOrEqual(t, h.GetSampleCount(), uint64(10), "the store's fdatasyncs are observed")
	require.Greater(t, h.GetSampleSum(), 0.0)
}

// The users by state, counted from the real store at exposition time.
func TestUsersByState(t *testing.T) {
	g := newRig(t, func(c *config.Config) {
		c.Lockout.MaxFailures = 1
		c.Policy.Require = config.RequireAll
		c.Policy.ExemptUsers = []string{"dave"}
	})
	users := func() map[string]float64 {
		t.Helper()
		text, err := g.r.Text()
		require.NoError(t, err)
		fams := parse(t, text)
		out := map[string]float64{}
		for _, s := range []string{"error", "locked", "enrolled", "required_not_enrolled", "pending", "not_enrolled"} {
			out[s] = value(t, fams, nameUsers, "state", s)
		}
		return out
	}
	require.Equal(t, map[string]float64{"error": 0, "locked": 0, "enrolled": 0, "required_not_enrolled": 0, "pending": 0, "not_enrolled": 0}, users())

	require.Nil(t, g.e.AdminEnroll("alice", in(wire.OpUserEnroll)).Error)
	b := g.e.AdminEnroll("bob", in(wire.OpUserEnroll)).Enrollment
	require.Equal(t, wire.ErrCodeLocked, g.e.LoginVerify("bob", g.wrongCode(t, b.Secret), in(wire.OpLoginVerify)).Error.Code) // max_failures = 1
	require.NotNil(t, g.e.LoginQuery("carol", in(wire.OpLoginQuery)))                                                         // required, first seen
	require.Nil(t, g.e.EnrollBegin("dave", in(wire.OpEnrollBegin), false).Error)                                              // exempt, pending
	require.Nil(t, g.e.Exempt("erin", in(wire.OpUserExempt)).Error)                                                           // a record, not required
	require.Equal(t, map[string]float64{"error": 0, "locked": 1, "enrolled": 1, "required_not_enrolled": 1, "pending": 1, "not_enrolled": 1}, users())

	g.acct.mu.Lock()
	g.acct.uids["alice"] = 2001 // re-created with another uid
	g.acct.mu.Unlock()
	g.now = g.now.Add(2 * time.Hour) // dave's pending enrollment expired; bob's 15 min lock too
	require.Equal(t, map[string]float64{"error": 1, "locked": 0, "enrolled": 1, "required_not_enrolled": 1, "pending": 0, "not_enrolled": 2}, users())
}
