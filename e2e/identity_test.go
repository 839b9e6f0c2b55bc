package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/hostkit"
)

// freeUID reports a uid above from that no account has.
func freeUID(t *testing.T, from uint32) uint32 {
	t.Helper()
	for uid := from + 1; uid < from+10000; uid++ {
		if _, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err != nil {
			return uid
		}
	}
	t.Fatalf("no free uid above %d", from)
	return 0
}

// TestIdentityRecreatedAccount: alice is enrolled, then her account is
// deleted and made again under the same name with another uid. The new
// account inherits nothing: its logins and totpctl are refused with a
// state error that names the way out, `totpctl user disable`, which
// starts the new account afresh.
func TestIdentityRecreatedAccount(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	alice := newUser(t)
	e := d.Enroll(alice.Name)
	require.NotEmpty(t, e.Secret)

	newUID := freeUID(t, alice.UID+1000)
	require.NoError(t, admin("userdel", alice.Name))
	require.NoError(t, admin("useradd", "-u", strconv.FormatUint(uint64(newUID), 10), "-s", "/bin/sh", alice.Name))
	again := account{Name: alice.Name, UID: newUID, GID: alice.GID}
	if u, err := user.Lookup(alice.Name); err == nil {
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		again.GID = uint32(gid)
	}

	step := stableStep(t, 8*time.Second)
	_, err := d.Verify(alice.Name, codeForStep(t, e.Secret, step))
	require.Equal(t, wire.ErrCodeState, errCode(err), "the old account's code for the new account: %v", err)
	require.Contains(t, err.Error(), fmt.Sprintf("belongs to uid %d", alice.UID))
	_, err = d.CallAs(again, wire.Request{Op: wire.OpStatus})
	require.Equal(t, wire.ErrCodeState, errCode(err), "the new alice's status: %v", err)
	r := d.Ctl("user", "show", alice.Name)
	require.Equal(t, 1, r.Code, "user show must refuse with the mismatch: %s", r)
	require.Contains(t, r.String(), "totpctl user disable "+alice.Name)

	// The way out the message names.
	d.CtlOK(nil, "user", "disable", alice.Name)
	show := d.Show(alice.Name)
	require.Nil(t, show.StateError)
	require.False(t, show.Enrolled, "the new alice starts with no secret")
	require.Equal(t, wire.ActionIgnore, d.Query(alice.Name).Action)
	_, err = d.CallAs(again, wire.Request{Op: wire.OpStatus})
	require.NoError(t, err)
}

// TestIdentitySharedName: two passwd entries share alice's name (a local
// account beside a directory one). The daemon, run with such a passwd in
// a private mount namespace, lets the second uid act as neither alice nor
// a member of alice's admin group.
func TestIdentitySharedName(t *testing.T) {
	t.Parallel()
	b := setup(t, "unshare", "mount")
	group := newGroup(t)
	alice := newUser(t, group)
	twin := account{Name: alice.Name, UID: freeUID(t, alice.UID+2000), GID: alice.GID}

	passwd, err := os.ReadFile("/etc/passwd")
	require.NoError(t, err)
	// After alice's own line, so getpwnam finds alice and getpwuid the twin.
	passwd = append(passwd, fmt.Sprintf("%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n", twin.Name, twin.UID, twin.GID)...)
	etc := publicDir(t)
	require.NoError(t, os.WriteFile(filepath.Join(etc, "passwd"), passwd, 0o644))
	wrap, err := hostkit.EtcOverlay(etc)
	require.NoError(t, err)

	d := newDaemon(t, b, config{AdminGroup: group})
	d.Wrap = wrap
	d.Start()

	// The daemon's view: the twin's uid is called alice.
	check := exec.Command(wrap[0], append(wrap[1:], "getent", "passwd", strconv.FormatUint(uint64(twin.UID), 10))...)
	out, err := check.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), alice.Name+":x:")

	_, err = d.CallAs(alice, wire.Request{Op: wire.OpUsers})
	require.NoError(t, err, "alice is an admin")
	for _, req := range []wire.Request{
		{Op: wire.OpUsers},
		{Op: wire.OpUserUnlock, User: alice.Name},
		{Op: wire.OpStatus},
		{Op: wire.OpLoginQuery, User: alice.Name},
	} {
		_, err := d.CallAs(twin, req)
		require.Equal(t, wire.ErrCodePermission, errCode(err), "uid %d (also named %s), %s: %v", twin.UID, twin.Name, req.Op, err)
		require.Contains(t, err.Error(), "two accounts share a name")
	}
}
