package main

import (
	"encoding/json"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/wire"
)

func at(d time.Duration) *time.Time {
	t := testNow.Add(d)
	return &t
}

func intp(n int) *int { return &n }

const (
	testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	testURI    = "otpauth://totp/myhost:alice?secret=" + testSecret + "&issuer=myhost&algorithm=SHA1&digits=6&period=30"
)

var testRecovery = []string{"h4kq-9wzt", "m2pd-x7cv", "r8bn-3fjy", "t6gs-k4ul", "w9ea-5hqm"}

// Statuses for the golden tests, one per situation people ask about.
var (
	statusEnrolled = wire.Status{
		User: "alice", Enrolled: true, Required: true,
		Deadline:      at(-30 * 24 * time.Hour),
		Failures:      1,
		LastSuccess:   at(-3 * time.Hour),
		RecoveryCodes: 8,
		ServerTime:    testNow.Add(5 * time.Second),
		DriftSteps:    -1,
		PeriodSec:     30,
	}
	statusUnenrolled = wire.Status{
		User: "bob", Required: true, Override: "require",
		Deadline:    at(3*24*time.Hour + 20*time.Minute),
		Locked:      true,
		LockedUntil: at(12 * time.Minute),
		Failures:    5,
		Pending:     true,
		ServerTime:  testNow,
		PeriodSec:   30,
	}
	statusPastDeadline = wire.Status{
		User: "dave", Required: true,
		Deadline:   at(-2 * time.Hour),
		ServerTime: testNow,
	}
	statusExempt = wire.Status{
		User: "erin", Enrolled: true, Override: "exempt",
		LastSuccess: at(-26 * time.Hour),
		ServerTime:  testNow,
		DriftSteps:  3,
		PeriodSec:   30,
	}
	statusAdminLocked = wire.Status{
		User: "frank", Enrolled: true, Required: true,
		Locked:     true,
		Failures:   7,
		ServerTime: testNow,
	}
	statusBroken = wire.Status{
		User: "gina", Required: true,
		ServerTime: testNow,
		StateError: "state file cannot be authenticated: logins are denied until an admin looks",
	}
)

func TestGoldenStatus(t *testing.T) {
	cases := []struct {
		name string
		st   wire.Status
	}{
		{"enrolled", statusEnrolled},
		{"unenrolled", statusUnenrolled},
		{"past-deadline", statusPastDeadline},
		{"exempt", statusExempt},
		{"admin-locked", statusAdminLocked},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			f := fixed(wire.Response{Status: &st})
			r := runFake(t, f, "", "status")
			require.Equal(t, exitOK, r.code, r.stderr)
			golden(t, "status-"+tc.name+".txt", r.stdout)
			r = runFake(t, f, "", "status", "--json")
			require.Equal(t, exitOK, r.code, r.stderr)
			golden(t, "status-"+tc.name+".json", r.stdout)
			require.Equal(t, wire.Request{Op: wire.OpStatus}, f.requests()[0])
		})
	}
}

func TestGoldenStatusLocalTime(t *testing.T) {
	st := statusEnrolled
	cet := time.FixedZone("CET", 3600)
	r := runEnv(t, fixed(wire.Response{Status: &st}), cet, "", "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "status-enrolled-cet.txt", r.stdout)
	require.Contains(t, r.stdout, "2026-11-28 15:00:05 CET")
	// JSON stays in UTC whatever the zone.
	r = runEnv(t, fixed(wire.Response{Status: &st}), cet, "", "status", "--json")
	require.Contains(t, r.stdout, `"server_time": "2026-11-28T14:00:05Z"`)
}

func TestGoldenUserShow(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   wire.Status
	}{
		{"unenrolled", statusUnenrolled},
		{"exempt", statusExempt},
		{"broken", statusBroken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			f := fixed(wire.Response{Status: &st})
			r := runFake(t, f, "", "user", "show", st.User)
			require.Equal(t, exitOK, r.code, r.stderr)
			golden(t, "user-show-"+tc.name+".txt", r.stdout)
			r = runFake(t, f, "", "user", "show", st.User, "--json")
			require.Equal(t, exitOK, r.code, r.stderr)
			golden(t, "user-show-"+tc.name+".json", r.stdout)
			require.Equal(t, wire.Request{Op: wire.OpUserShow, User: st.User}, f.requests()[0])
		})
	}
}

func TestGoldenUsers(t *testing.T) {
	users := []wire.Status{statusExempt, statusBroken, statusUnenrolled, statusEnrolled, statusAdminLocked, statusPastDeadline,
		{User: "henry", ServerTime: testNow}}
	f := fixed(wire.Response{Users: users})
	r := runFake(t, f, "", "users")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "users.txt", r.stdout)

	r = runFake(t, f, "", "users", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "users.json", r.stdout)

	// Exactly the keys of the contract, in every row.
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Len(t, rows, len(users))
	for _, row := range rows {
		keys := make([]string, 0, len(row))
		for k := range row {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		require.Equal(t, []string{"deadline", "enrolled", "failures", "last_success", "locked", "locked_until", "required", "user"}, keys)
	}

	// No users is an empty array, not null.
	r = runFake(t, fixed(wire.Response{}), "", "users", "--json")
	require.Equal(t, "[]\n", r.stdout)
}

func TestGoldenUserCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		ck   wire.Check
		exit int
	}{
		{"valid", wire.Check{User: "bob", Valid: true, DriftSteps: intp(0), PeriodSec: 30}, exitOK},
		{"fast", wire.Check{User: "bob", DriftSteps: intp(3), PeriodSec: 30}, exitFailed},
		{"slow", wire.Check{User: "bob", DriftSteps: intp(-12), PeriodSec: 30}, exitFailed},
		{"nomatch", wire.Check{User: "bob", PeriodSec: 30}, exitFailed},
		{"used", wire.Check{User: "bob", DriftSteps: intp(0), PeriodSec: 30, Reason: "already used"}, exitFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ck := tc.ck
			f := fixed(wire.Response{Check: &ck})
			r := runFake(t, f, "123456\n", "user", "check", "bob")
			require.Equal(t, tc.exit, r.code, r.stderr)
			golden(t, "user-check-"+tc.name+".txt", r.stdout)
			r = runFake(t, f, "123456\n", "user", "check", "bob", "--json")
			require.Equal(t, tc.exit, r.code, r.stderr)
			golden(t, "user-check-"+tc.name+".json", r.stdout)
			require.Empty(t, r.stderr)
		})
	}
}

func TestCheckText(t *testing.T) {
	require.Equal(t, "valid now", checkText(&wire.Check{Valid: true}, 30))
	require.Equal(t, "not valid now; it matches a time 90 s ahead of the server clock (3 steps): the phone's clock is fast",
		checkText(&wire.Check{DriftSteps: intp(3)}, 30))
	require.Equal(t, "not valid now; it matches a time 30 s behind the server clock (1 step): the phone's clock is slow",
		checkText(&wire.Check{DriftSteps: intp(-1)}, 30))
	require.Equal(t, "not valid now; matches no time within ±10 minutes: wrong key or wrong account in the app",
		checkText(&wire.Check{}, 30))
}

func TestGoldenEnrollBegin(t *testing.T) {
	enr := wire.Enrollment{User: "alice", Secret: testSecret, URI: testURI, ConfirmCodes: 2}
	f := fixed(wire.Response{Enrollment: &enr})
	for _, tc := range []struct {
		file string
		args []string
	}{
		{"enroll-begin-utf8.txt", []string{"enroll", "begin"}},
		{"enroll-begin-ansi.txt", []string{"enroll", "begin", "--qr", "ansi"}},
		{"enroll-begin-none.txt", []string{"enroll", "begin", "--qr=none"}},
		{"enroll-begin.json", []string{"enroll", "begin", "--json"}},
	} {
		r := runFake(t, f, "", tc.args...)
		require.Equal(t, exitOK, r.code, r.stderr)
		golden(t, tc.file, r.stdout)
	}
	var got map[string]any
	r := runFake(t, f, "", "--json", "enroll", "begin")
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Equal(t, testSecret, got["secret"])
	require.Equal(t, testURI, got["uri"])
	require.Contains(t, r.stdout, "&issuer=", "no HTML escaping of the URI")
	for _, req := range f.requests() {
		require.Equal(t, wire.Request{Op: wire.OpEnrollBegin}, req)
	}
}

func TestGoldenEnrollConfirm(t *testing.T) {
	enr := wire.Enrollment{User: "alice", RecoveryCodes: testRecovery}
	f := fixed(wire.Response{Enrollment: &enr})
	r := runFake(t, f, "", "enroll", "confirm", "123456")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "enroll-confirm.txt", r.stdout)
	r = runFake(t, f, "", "enroll", "confirm", "123456", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "enroll-confirm.json", r.stdout)
}

func TestGoldenRecoveryCodes(t *testing.T) {
	enr := wire.Enrollment{User: "alice", RecoveryCodes: testRecovery}
	f := fixed(wire.Response{Enrollment: &enr})
	r := runFake(t, f, "123456\n", "recovery-codes", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Empty(t, r.stderr)
	golden(t, "recovery-codes.json", r.stdout)
	require.Equal(t, wire.Request{Op: wire.OpRecoveryCodes, Code: "123456"}, f.requests()[0])
}

func TestGoldenUserEnroll(t *testing.T) {
	enr := wire.Enrollment{User: "alice", Secret: testSecret, URI: testURI, RecoveryCodes: testRecovery}
	f := fixed(wire.Response{Enrollment: &enr})
	r := runFake(t, f, "", "user", "enroll", "alice", "--qr", "none")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "user-enroll.txt", r.stdout)
	r = runFake(t, f, "", "user", "enroll", "alice", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "user-enroll.json", r.stdout)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got))
	require.Len(t, got, 4)
	require.Equal(t, wire.Request{Op: wire.OpUserEnroll, User: "alice"}, f.requests()[0])
}

func TestGoldenUserForget(t *testing.T) {
	n := 2
	f := fixed(wire.Response{Forgotten: &n, Messages: []wire.Message{{Text: "bob's remembered logins are forgotten (2): the next login asks for a code."}}})
	r := runFake(t, f, "", "user", "forget", "bob")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "user-forget.txt", r.stdout)
	r = runFake(t, f, "", "user", "forget", "bob", "--json")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "user-forget.json", r.stdout)
	require.Equal(t, wire.Request{Op: wire.OpUserForget, User: "bob"}, f.requests()[0])
}
