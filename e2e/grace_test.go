package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// requireMessage checks that resp tells the person something containing want.
func requireMessage(t *testing.T, resp *wire.Response, want string) {
	t.Helper()
	require.NotEmpty(t, resp.Messages, "action %s without a message", resp.Action)
	text := ""
	for _, m := range resp.Messages {
		text += m.Text + "\n"
	}
	require.Contains(t, text, want)
}

// deadlineOf parses the deadline of a status.
func deadlineOf(t *testing.T, s statusJSON) time.Time {
	t.Helper()
	require.NotNil(t, s.Deadline, "no deadline for %s", s.User)
	dl, err := time.Parse(time.RFC3339, *s.Deadline)
	require.NoError(t, err)
	return dl
}

func TestGraceRequireAll(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{Require: "all", GracePeriod: "2s"})
	u := newUser(t)
	enrolled := newUser(t)

	first := time.Now()
	q := d.Query(u.Name)
	require.Equal(t, wire.ActionAllow, q.Action, "before the deadline an unenrolled user logs in")
	requireMessage(t, q, "totpctl enroll")
	s := d.Show(u.Name)
	require.True(t, s.Required)
	require.WithinDuration(t, first.Add(2*time.Second), deadlineOf(t, s), 2*time.Second)

	testutils.WaitFor(t, 10*time.Second, "the 2s grace period to end", func() bool {
		return d.Query(u.Name).Action != wire.ActionAllow
	})
	require.GreaterOrEqual(t, time.Since(first), 1500*time.Millisecond)
	q = d.Query(u.Name)
	require.Equal(t, wire.ActionDeny, q.Action, "after the deadline the login is refused")
	require.True(t, q.Messages[0].Error)
	requireMessage(t, q, "totpctl user enroll "+u.Name)

	// The user's own status says so too.
	var st statusJSON
	d.CtlJSON(&u, &st, "status", "--json")
	require.True(t, st.Required)
	require.False(t, st.Enrolled)
	require.NotNil(t, st.Deadline)

	// An admin's `user disable` restarts the grace period.
	d.CtlOK(nil, "user", "disable", u.Name)
	q = d.Query(u.Name)
	require.Equal(t, wire.ActionAllow, q.Action, "user disable restarts the deadline")
	require.True(t, deadlineOf(t, d.Show(u.Name)).After(time.Now()))

	// `user exempt` takes the user out of the policy.
	d.CtlOK(nil, "user", "exempt", u.Name)
	require.Equal(t, wire.ActionIgnore, d.Query(u.Name).Action)
	s = d.Show(u.Name)
	require.False(t, s.Required)
	require.NotNil(t, s.Override)
	require.Equal(t, "exempt", *s.Override)

	// An enrolled user is prompted whatever the deadline; `user disable`
	// for a lost phone removes the secret and gives a new grace period.
	e := d.Enroll(enrolled.Name)
	require.Equal(t, wire.ActionPrompt, d.Query(enrolled.Name).Action)
	d.CtlOK(nil, "user", "disable", enrolled.Name)
	require.Equal(t, wire.ActionAllow, d.Query(enrolled.Name).Action, "a disabled user is back in grace")
	_, err := d.Verify(enrolled.Name, codeAt(t, e.Secret, time.Now()))
	require.Equal(t, wire.ErrCodeNotEnrolled, errCode(err), "the old secret is gone")
}

func TestGraceEnrollAtLogin(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{Require: "all", GracePeriod: "2s", EnrollAtLogin: true})
	u := newUser(t)

	require.Equal(t, wire.ActionAllow, d.Query(u.Name).Action)
	_, err := d.Call(wire.Request{Op: wire.OpLoginEnrollBegin, User: u.Name, Service: "e2e"})
	require.Equal(t, wire.ErrCodePermission, errCode(err), "enrolling at login is only for users past the deadline")

	testutils.WaitFor(t, 10*time.Second, "the 2s grace period to end", func() bool {
		return d.Query(u.Name).Action != wire.ActionAllow
	})
	q := d.Query(u.Name)
	require.Equal(t, wire.ActionEnroll, q.Action, "enroll_at_login: past the deadline the user enrolls")
	require.NotEmpty(t, q.Messages)

	// The enrollment inside the login conversation.
	resp := d.MustOK(wire.Request{Op: wire.OpLoginEnrollBegin, User: u.Name, Service: "e2e"})
	require.NotNil(t, resp.Enrollment)
	require.Equal(t, 1, resp.Enrollment.ConfirmCodes)
	requireURI(t, resp.Enrollment.URI, u.Name, resp.Enrollment.Secret)
	secret := resp.Enrollment.Secret
	resp = d.MustOK(wire.Request{Op: wire.OpLoginEnrollConfirm, User: u.Name, Codes: []string{codeAt(t, secret, time.Now())}, Service: "e2e"})
	require.NotNil(t, resp.Enrollment)
	requireRecoveryCodes(t, resp.Enrollment.RecoveryCodes, 10)
	require.Equal(t, wire.ActionPrompt, d.Query(u.Name).Action, "enrolled now")
}

func TestGraceRequireGroups(t *testing.T) {
	t.Parallel()
	b := setup(t)
	g := newGroup(t)
	d := startDaemon(t, b, config{Require: "groups", Groups: []string{g, "te2e-no-such-group"}, GracePeriod: "1h"})
	member := newUser(t, g)
	outsider := newUser(t)
	late := newUser(t)

	q := d.Query(member.Name)
	require.Equal(t, wire.ActionAllow, q.Action, "a member of a required group is required (in grace)")
	requireMessage(t, q, "totpctl enroll")
	require.True(t, d.Show(member.Name).Required)
	require.Equal(t, wire.ActionIgnore, d.Query(outsider.Name).Action, "a non-member is not required")
	require.False(t, d.Show(outsider.Name).Required)

	// Membership is read at each request: joining the group makes one required.
	require.Equal(t, wire.ActionIgnore, d.Query(late.Name).Action)
	addToGroup(t, late, g)
	require.Equal(t, wire.ActionAllow, d.Query(late.Name).Action)

	var st statusJSON
	d.CtlJSON(&member, &st, "status", "--json")
	require.True(t, st.Required)
	dl := deadlineOf(t, st)
	require.WithinDuration(t, time.Now().Add(time.Hour), dl, time.Minute, "deadline = first seen required + grace_period")
}

func TestGraceExemptions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	xg := newGroup(t)
	exemptUser := newUser(t)
	exemptMember := newUser(t, xg)
	plain := newUser(t)
	d := startDaemon(t, b, config{Require: "all", GracePeriod: "1h",
		ExemptUsers: []string{exemptUser.Name}, ExemptGroups: []string{xg}})

	require.Equal(t, wire.ActionIgnore, d.Query(exemptUser.Name).Action, "exempt_users")
	require.Equal(t, wire.ActionIgnore, d.Query(exemptMember.Name).Action, "exempt_groups")
	require.Equal(t, wire.ActionAllow, d.Query(plain.Name).Action, "everyone else is required")
	require.False(t, d.Show(exemptUser.Name).Required)
	require.False(t, d.Show(exemptMember.Name).Required)
}

func TestGraceOverrides(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{Require: "none", GracePeriod: "2s"})
	u := newUser(t)

	require.Equal(t, wire.ActionIgnore, d.Query(u.Name).Action, "require = none")

	r := d.CtlOK(nil, "user", "require", u.Name, "--grace", "1h")
	require.Contains(t, r.Stdout, u.Name)
	q := d.Query(u.Name)
	require.Equal(t, wire.ActionAllow, q.Action, "required by override, in its own grace period")
	requireMessage(t, q, "totpctl enroll")
	s := d.Show(u.Name)
	require.True(t, s.Required)
	require.NotNil(t, s.Override)
	require.Equal(t, "require", *s.Override)
	require.WithinDuration(t, time.Now().Add(time.Hour), deadlineOf(t, s), time.Minute, "--grace 1h, not the configured 2s")

	// Without --grace the configured grace_period applies.
	d.CtlOK(nil, "user", "require", u.Name)
	require.WithinDuration(t, time.Now().Add(2*time.Second), deadlineOf(t, d.Show(u.Name)), 2*time.Second)
	testutils.WaitFor(t, 10*time.Second, "the 2s grace period to end", func() bool {
		return d.Query(u.Name).Action == wire.ActionDeny
	})

	d.CtlOK(nil, "user", "exempt", u.Name)
	require.Equal(t, wire.ActionIgnore, d.Query(u.Name).Action, "exempt by override")
	require.False(t, d.Show(u.Name).Required)

	r = d.Ctl("user", "require", u.Name, "--grace", "soon")
	require.Equal(t, 2, r.Code, "a bad --grace is a usage error: %s", r)
}
