package e2e

import (
	"encoding/json"
	"os/user"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// TestPeerRules checks who may ask what, with real non-root uids: the
// daemon knows callers by SO_PEERCRED only.
func TestPeerRules(t *testing.T) {
	t.Parallel()
	b := setup(t)
	adminGroup := newGroup(t)
	d := startDaemon(t, b, config{AdminGroup: adminGroup})
	a := newUser(t)
	bob := newUser(t)
	eb := d.Enroll(bob.Name)
	ea := d.Enroll(a.Name)

	// A about itself.
	var st statusJSON
	d.CtlJSON(&a, &st, "status", "--json")
	require.Equal(t, a.Name, st.User, "status names the caller")
	require.True(t, st.Enrolled)
	resp, err := d.CallAs(a, wire.Request{Op: wire.OpLoginQuery, User: a.Name})
	require.NoError(t, err, "a screen locker asks about its own user")
	require.Equal(t, wire.ActionPrompt, resp.Action)
	_, err = d.CallAs(a, wire.Request{Op: wire.OpLoginVerify, User: a.Name, Code: codeAt(t, ea.Secret, time.Now())})
	require.NoError(t, err, "a screen locker verifies its own user")

	// A about B.
	bobCode := codeAt(t, eb.Secret, time.Now())
	for _, req := range []wire.Request{
		{Op: wire.OpLoginQuery, User: bob.Name},
		{Op: wire.OpLoginVerify, User: bob.Name, Code: bobCode},
		{Op: wire.OpLoginVerify, User: "root", Code: "123456"},
		{Op: wire.OpLoginEnrollBegin, User: bob.Name},
		{Op: wire.OpStatus, User: bob.Name},
		{Op: wire.OpEnrollBegin, User: bob.Name},
		{Op: wire.OpUsers},
		{Op: wire.OpUserShow, User: bob.Name},
		{Op: wire.OpUserUnlock, User: bob.Name},
		{Op: wire.OpUserEnroll, User: a.Name},
		{Op: wire.OpUserExempt, User: a.Name},
	} {
		resp, err := d.CallAs(a, req)
		require.Equal(t, wire.ErrCodePermission, errCode(err), "%s about %q as %s", req.Op, req.User, a.Name)
		require.Nil(t, resp.Status)
		require.Nil(t, resp.Enrollment)
		require.Empty(t, resp.Users)
	}
	// Nothing A tried reached B's state: B's code is still unused.
	require.Equal(t, 0, d.Show(bob.Name).Failures)
	_, err = d.Verify(bob.Name, bobCode)
	require.NoError(t, err, "B's code was not used up by A's attempt")

	// Admin commands name the group to join.
	for _, args := range [][]string{{"users"}, {"user", "show", bob.Name}, {"user", "unlock", bob.Name}} {
		r := d.CtlAs(a, args...)
		require.Equal(t, 1, r.Code, "totpctl %v as a non-admin: %s", args, r)
		require.Contains(t, r.Stderr, adminGroup, "the refusal names the admin group")
		require.Empty(t, r.Stdout)
	}

	// A member of admin_group is an admin.
	addToGroup(t, a, adminGroup)
	r := d.CtlAs(a, "users", "--json")
	require.Equal(t, 0, r.Code, "%s", r)
	var rows []map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Stdout), &rows))
	names := map[string]bool{}
	for _, row := range rows {
		names[row["user"].(string)] = true
	}
	require.True(t, names[bob.Name] && names[a.Name], "users lists both: %s", r.Stdout)
	var s statusJSON
	d.CtlJSON(&a, &s, "user", "show", bob.Name, "--json")
	require.Equal(t, bob.Name, s.User)
	d.CtlOK(&a, "user", "unlock", bob.Name)

	// Being an admin does not make A root for logins: still not about B.
	_, err = d.CallAs(a, wire.Request{Op: wire.OpLoginQuery, User: bob.Name})
	require.Equal(t, wire.ErrCodePermission, errCode(err), "an admin does not authenticate other users")
	// And B is still no admin.
	r = d.CtlAs(bob, "users")
	require.Equal(t, 1, r.Code, "%s", r)

	// A uid without an account is nobody: not even about itself.
	ghost := account{UID: unusedID(t), GID: unusedID(t)}
	for _, req := range []wire.Request{
		{Op: wire.OpStatus},
		{Op: wire.OpEnrollBegin},
		{Op: wire.OpLoginQuery, User: bob.Name},
		{Op: wire.OpLoginQuery, User: "root"},
		{Op: wire.OpUsers},
	} {
		_, err := d.CallAs(ghost, req)
		require.Equal(t, wire.ErrCodePermission, errCode(err), "%s about %q as uid %d", req.Op, req.User, ghost.UID)
	}
	d.Alive()
}

// unusedID reports a uid (and gid) that names no account or group.
func unusedID(t *testing.T) uint32 {
	t.Helper()
	for id := uint32(3_900_000_000); id < 3_900_001_000; id++ {
		s := strconv.FormatUint(uint64(id), 10)
		_, uerr := user.LookupId(s)
		_, gerr := user.LookupGroupId(s)
		if uerr != nil && gerr != nil {
			return id
		}
	}
	t.Fatal("no unused uid")
	return 0
}
