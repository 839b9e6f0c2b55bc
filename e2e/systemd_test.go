package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/testutils"
)

// notifySocket is a test $NOTIFY_SOCKET (hostkit.NotifySocket), closed at cleanup.
type notifySocket struct{ *hostkit.NotifySocket }

func newNotifySocket(t *testing.T) notifySocket {
	t.Helper()
	n, err := hostkit.ListenNotify(filepath.Join(publicDir(t), "notify"))
	require.NoError(t, err)
	t.Cleanup(n.Close)
	return notifySocket{n}
}

// wait waits for a datagram (from the from-th on) with the line want.
func (n notifySocket) wait(t *testing.T, from int, want string) {
	t.Helper()
	testutils.WaitFor(t, 10*time.Second, "sd_notify "+want, func() bool { return n.Has(from, want) })
}

// TestSocketActivation starts totpd the way totpd.socket does: the
// listening socket is passed in, READY=1 goes to $NOTIFY_SOCKET.
func TestSocketActivation(t *testing.T) {
	t.Parallel()
	b := setup(t, "systemd-socket-activate")
	d := newDaemon(t, b, config{})
	configured := d.Socket
	d.Socket = filepath.Join(filepath.Dir(configured), "activated.sock")
	notify := newNotifySocket(t)

	d.launch("systemd-socket-activate", "-l", d.Socket, "-E", "NOTIFY_SOCKET="+notify.Path,
		b.Totpd, "--config", d.CfgPath)
	testutils.WaitFor(t, 10*time.Second, "systemd-socket-activate to listen", func() bool {
		fi, err := os.Stat(d.Socket)
		return err == nil && fi.Mode()&os.ModeSocket != 0
	})
	// The first connection starts totpd on the passed socket.
	u := newUser(t)
	e := d.Enroll(u.Name)
	require.Equal(t, wire.ActionPrompt, d.Query(u.Name).Action)
	_, err := d.Verify(u.Name, codeAt(t, e.Secret, time.Now()))
	require.NoError(t, err)

	notify.wait(t, 0, "READY=1")
	require.Contains(t, d.Stderr(), "serving on "+d.Socket)
	_, err = os.Stat(configured)
	require.ErrorIs(t, err, os.ErrNotExist, "with a socket passed in, totpd binds none itself")

	require.NoError(t, d.Stop())
	notify.wait(t, 0, "STOPPING=1")
}

// TestNotifyAndReload starts totpd by hand with $NOTIFY_SOCKET set, then
// reloads its configuration with SIGHUP: a good one takes effect, a bad
// one is refused with the reason and the old one stays.
func TestNotifyAndReload(t *testing.T) {
	t.Parallel()
	b := setup(t)
	notify := newNotifySocket(t)
	d := newDaemon(t, b, config{MaxFailures: 5})
	d.Env = []string{"NOTIFY_SOCKET=" + notify.Path}
	d.Start()
	notify.wait(t, 0, "READY=1")

	u := newUser(t)
	e := d.Enroll(u.Name)
	wrong := wrongCode(t, e.Secret, stepOf(time.Now()))
	// failuresToLock counts wrong codes until the user is locked, then unlocks.
	failuresToLock := func() int {
		t.Helper()
		defer d.CtlOK(nil, "user", "unlock", u.Name)
		for i := 1; i <= 20; i++ {
			_, err := d.Verify(u.Name, wrong)
			if errCode(err) == wire.ErrCodeLocked {
				return i
			}
			require.Equal(t, wire.ErrCodeDenied, errCode(err))
		}
		return -1
	}
	require.Equal(t, 5, failuresToLock())

	// A good change.
	mark := notify.Count()
	d.WriteConfig(config{MaxFailures: 2})
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reloaded "+d.CfgPath, 10*time.Second)
	notify.wait(t, mark, "RELOADING=1")
	notify.wait(t, mark, "READY=1")
	require.Equal(t, 2, failuresToLock(), "max_failures = 2 after SIGHUP")

	// Bad ones: an unknown key, a bad value, broken TOML.
	for what, text := range map[string]string{
		"unknown key": config{MaxFailures: 10, Extra: "bogus_key = 1"}.render(d.Socket, d.StateDir, d.KeyFile),
		"bad value":   strings.Replace(config{}.render(d.Socket, d.StateDir, d.KeyFile), "[lockout]\n", "[lockout]\nmax_failures = 0\n", 1),
		"broken TOML": config{MaxFailures: 10}.render(d.Socket, d.StateDir, d.KeyFile) + "\n[lockout\n",
	} {
		before := strings.Count(d.Stderr(), "reload failed")
		mark = notify.Count()
		d.WriteConfigRaw(text)
		d.Signal(syscall.SIGHUP)
		testutils.WaitFor(t, 10*time.Second, what+": the reload to fail", func() bool {
			return strings.Count(d.Stderr(), "reload failed") > before
		})
		notify.wait(t, mark, "STATUS=reload failed")
		lines := strings.Split(d.Stderr(), "\n")
		var why string
		for _, l := range lines {
			if strings.Contains(l, "reload failed") {
				why = l
			}
		}
		require.Contains(t, why, "keeping the configuration in force", what)
		require.Contains(t, why, d.CfgPath, "%s: the message names the file", what)
		switch what {
		case "unknown key":
			require.Contains(t, why, "bogus_key", "the message names the key")
		case "bad value":
			require.Contains(t, why, "max_failures", "the message names the key")
		}
		require.Equal(t, 2, failuresToLock(), "%s: the old configuration stays in force", what)
	}
	d.Alive()
}

// TestReloadNeverLoosens runs totpd with require = "all" and no grace, so
// that a user who is not enrolled is refused, and then takes the file away
// or replaces it with one that must not be trusted, each saying require =
// "none" where it can: after SIGHUP the user is still refused and the log
// says why and what to do. A good file last shows the reloads are real.
func TestReloadNeverLoosens(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{Require: "all", GracePeriod: "0s"})
	u := newUser(t)
	require.Equal(t, wire.ActionDeny, d.Query(u.Name).Action, "required, not enrolled, past the deadline")
	loose := config{Require: "none"}

	for _, c := range []struct {
		what  string
		spoil func()
		why   string
	}{
		{"removed", func() { require.NoError(t, os.Remove(d.CfgPath)) }, "no such file or directory: put the configuration file there"},
		{"group-writable", func() { d.WriteConfig(loose); require.NoError(t, os.Chmod(d.CfgPath, 0o664)) }, "run: chmod g-w " + d.CfgPath},
		{"world-writable", func() { d.WriteConfig(loose); require.NoError(t, os.Chmod(d.CfgPath, 0o606)) }, "run: chmod go-w " + d.CfgPath},
		{"not owned by root", func() { d.WriteConfig(loose); require.NoError(t, os.Chown(d.CfgPath, 12345, 12345)) }, "run: chown root: " + d.CfgPath},
		{"garbage", func() { d.WriteConfigRaw("\x00\x01 not toml") }, "contains a NUL byte"},
	} {
		os.Remove(d.CfgPath)
		d.WriteConfig(config{Require: "all", GracePeriod: "0s"})
		c.spoil()
		before := strings.Count(d.Stderr(), "reload failed")
		d.Signal(syscall.SIGHUP)
		testutils.WaitFor(t, 10*time.Second, c.what+": the reload to fail", func() bool {
			return strings.Count(d.Stderr(), "reload failed") > before
		})
		var why string
		for _, l := range strings.Split(d.Stderr(), "\n") {
			if strings.Contains(l, "reload failed") {
				why = l
			}
		}
		require.Contains(t, why, `keeping the configuration in force (require = "all")`, c.what)
		require.Contains(t, why, c.why, c.what)
		require.Equal(t, wire.ActionDeny, d.Query(u.Name).Action, "%s: require = all stays in force", c.what)
	}
	require.NotContains(t, d.Stderr(), "reloaded")

	os.Remove(d.CfgPath)
	d.WriteConfig(loose)
	d.Signal(syscall.SIGHUP)
	d.WaitLog("reloaded "+d.CfgPath, 10*time.Second)
	require.Equal(t, wire.ActionIgnore, d.Query(u.Name).Action, "a good file is applied")
	d.Alive()
}
