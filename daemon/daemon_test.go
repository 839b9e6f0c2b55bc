package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// accounts knows root and alice, and no groups.
type accounts struct{}

var users = map[string]uint32{"root": 0, "alice": 1001}

func (accounts) User(name string) (engine.Account, error) {
	if uid, ok := users[name]; ok {
		return engine.Account{Name: name, UID: uid}, nil
	}
	return engine.Account{}, engine.ErrNoAccount
}

func (accounts) UID(uid uint32) (engine.Account, error) {
	for n, u := range users {
		if u == uid {
			return engine.Account{Name: n, UID: u}, nil
		}
	}
	return engine.Account{}, engine.ErrNoAccount
}

func (accounts) InGroup(engine.Account, string) (bool, error) { return false, nil }

// testDaemon is a Run in a goroutine with its files in a temporary directory.
type testDaemon struct {
	t       *testing.T
	dir     string
	cfgPath string
	sock    string
	signals chan os.Signal
	states  chan string
	stderr  *testutils.LockedBuffer
	done    chan error
	// metricsPeriod is Options.MetricsPeriod (metrics_test.go).
	metricsPeriod time.Duration
}

// render reports a configuration file for d with the [policy] table policy.
func (d *testDaemon) render(policy string) string {
	return fmt.Sprintf("socket = %q\nstate_dir = %q\nmaster_key_file = %q\n\n[policy]\n%s\n",
		d.sock, filepath.Join(d.dir, "state"), filepath.Join(d.dir, "master.key"), policy)
}

// requireAll is the policy in force in these tests: alice, not enrolled and
// past her deadline at once, is refused.
const requireAll = "require = \"all\"\ngrace_period = \"0s\""

// writeConfig replaces the configuration file with text, mode 0644.
func (d *testDaemon) writeConfig(text string) {
	d.t.Helper()
	tmp := d.cfgPath + ".new"
	require.NoError(d.t, os.WriteFile(tmp, []byte(text), 0o600))
	require.NoError(d.t, os.Chmod(tmp, 0o644))
	require.NoError(d.t, os.Rename(tmp, d.cfgPath))
}

// newTestDaemon prepares files for a daemon whose configuration requires everyone.
func newTestDaemon(t *testing.T) *testDaemon {
	t.Helper()
	testutils.RequireRoot(t, "the daemon must run as root: it answers only a root server's clients, and only root may ask about another user")
	dir := t.TempDir()
	d := &testDaemon{
		t: t, dir: dir,
		cfgPath: filepath.Join(dir, "totpd.toml"),
		sock:    filepath.Join(dir, "totpd.sock"),
		signals: make(chan os.Signal),
		states:  make(chan string, 100),
		stderr:  &testutils.LockedBuffer{},
		done:    make(chan error, 1),
	}
	d.writeConfig(d.render(requireAll))
	return d
}

// run starts Run with configPath as Options.ConfigPath and waits until it is ready.
func (d *testDaemon) run(configPath string) {
	d.t.Helper()
	ln, err := net.Listen("unix", d.sock)
	require.NoError(d.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		d.done <- Run(ctx, Options{
			ConfigPath:     configPath,
			Listeners:      func() ([]net.Listener, error) { return []net.Listener{ln}, nil },
			Notify:         func(state string) error { d.states <- state; return nil },
			Signals:        d.signals,
			Stderr:         d.stderr,
			Accounts:       accounts{},
			CredentialsDir: d.dir, // holds no totpd.key: master_key_file is used
			MetricsPeriod:  d.metricsPeriod,
		})
	}()
	d.t.Cleanup(func() {
		cancel()
		select {
		case err := <-d.done:
			require.NoError(d.t, err)
		case <-time.After(10 * time.Second):
			d.t.Error("Run did not return within 10s of its context's end")
		}
		if d.t.Failed() {
			d.t.Logf("totpd stderr:\n%s", d.stderr.String())
		}
	})
	d.waitState("READY=1")
}

// waitState waits for the sd_notify state want, failing if Run returns first.
func (d *testDaemon) waitState(want string) {
	d.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-d.states:
			if strings.HasPrefix(s, want) {
				return
			}
		case err := <-d.done:
			d.t.Fatalf("Run returned (%v) while waiting for %q:\n%s", err, want, d.stderr.String())
		case <-timeout:
			d.t.Fatalf("no sd_notify %q within 10s:\n%s", want, d.stderr.String())
		}
	}
}

// reload sends SIGHUP and waits until the reload is over.
func (d *testDaemon) reload() {
	d.t.Helper()
	d.signals <- syscall.SIGHUP
	d.waitState("RELOADING=1")
	d.waitState("READY=1")
}

// aliceAction reports what the daemon tells the PAM module for alice's login.
func (d *testDaemon) aliceAction() wire.Action {
	d.t.Helper()
	c := &client.Client{Socket: d.sock, Timeout: 5 * time.Second}
	r, err := c.Call(context.Background(), wire.Request{Op: wire.OpLoginQuery, User: "alice", Service: "test"})
	require.NoError(d.t, err)
	return r.Action
}

// lastReloadFailure reports the last "reload failed" line of the log.
func (d *testDaemon) lastReloadFailure() string {
	var last string
	for _, l := range strings.Split(d.stderr.String(), "\n") {
		if strings.Contains(l, "reload failed") {
			last = l
		}
	}
	return last
}

// TestReloadKeepsConfigWhenFileIsBad starts with require = "all" and, one
// case at a time, takes the file away or replaces it with one that must not
// be trusted (each of them saying require = "none" where that can be said),
// then reloads: the policy in force stays, alice is still refused, and the
// log says why and what to do. A good file last shows the reloads were real.
func TestReloadKeepsConfigWhenFileIsBad(t *testing.T) {
	for _, start := range []struct {
		name string
		// configPath reports Options.ConfigPath for the file at path.
		configPath func(path string) string
	}{
		// What the unit passes: --config /etc/totpd/totpd.toml, the default path.
		{"--config default path", func(path string) string { defaultConfigPath = path; return path }},
		{"no --config", func(path string) string { defaultConfigPath = path; return "" }},
		{"--config other path", func(path string) string { return path }},
	} {
		t.Run(start.name, func(t *testing.T) {
			defer func(p string) { defaultConfigPath = p }(defaultConfigPath)
			d := newTestDaemon(t)
			d.run(start.configPath(d.cfgPath))
			require.Equal(t, wire.ActionDeny, d.aliceAction(), "require = all, grace 0s: alice is refused")
			loose := d.render(`require = "none"`)

			for _, c := range []struct {
				name  string
				spoil func()
				why   string // in the log line
			}{
				{"removed", func() { require.NoError(t, os.Remove(d.cfgPath)) }, "no such file or directory: put the configuration file there"},
				{"moved away", func() { require.NoError(t, os.Rename(d.cfgPath, d.cfgPath+".bak")) }, "no such file or directory"},
				{"dangling symlink", func() {
					require.NoError(t, os.Remove(d.cfgPath))
					require.NoError(t, os.Symlink(filepath.Join(d.dir, "nowhere.toml"), d.cfgPath))
				}, "no such file or directory"},
				{"group-writable", func() { d.writeConfig(loose); require.NoError(t, os.Chmod(d.cfgPath, 0o664)) }, "may write it (mode 0664), so any of them could change the policy; run: chmod g-w " + d.cfgPath},
				{"world-writable", func() { d.writeConfig(loose); require.NoError(t, os.Chmod(d.cfgPath, 0o646)) }, "every user may write it (mode 0646), so anyone could change the policy; run: chmod go-w " + d.cfgPath},
				{"not owned by root", func() { d.writeConfig(loose); require.NoError(t, os.Chown(d.cfgPath, 12345, 12345)) }, "owned by uid 12345, not root, so that user could change the policy; run: chown root: " + d.cfgPath},
				{"a directory", func() {
					require.NoError(t, os.Remove(d.cfgPath))
					require.NoError(t, os.Mkdir(d.cfgPath, 0o755))
				}, "not a regular file but a directory"},
				{"garbage", func() { d.writeConfig("\x7fELF\x02\x01 require = none ]]]\n") }, "TOML syntax error"},
				{"a bad value", func() { d.writeConfig(d.render(`require = "everyone"`)) }, "require"},
			} {
				// The file in force, unchanged and not reloaded, is what each case spoils.
				require.NoError(t, os.RemoveAll(d.cfgPath))
				os.Remove(d.cfgPath + ".bak")
				d.writeConfig(d.render(requireAll))
				c.spoil()
				failures := strings.Count(d.stderr.String(), "reload failed")
				d.reload()
				require.Equal(t, failures+1, strings.Count(d.stderr.String(), "reload failed"), "%s: the reload must fail", c.name)
				why := d.lastReloadFailure()
				require.Contains(t, why, `keeping the configuration in force (require = "all")`, c.name)
				require.Contains(t, why, d.cfgPath, "%s: the log names the file", c.name)
				require.Contains(t, why, c.why, c.name)
				require.Equal(t, wire.ActionDeny, d.aliceAction(), "%s: require = all stays in force", c.name)
				require.NotContains(t, d.stderr.String(), "totpd: reloaded", c.name)
			}

			os.RemoveAll(d.cfgPath)
			d.writeConfig(loose)
			d.reload()
			require.Contains(t, d.stderr.String(), "totpd: reloaded "+d.cfgPath)
			require.Equal(t, wire.ActionIgnore, d.aliceAction(), "a good file is applied")
		})
	}
}

// TestStartRefusesBadConfig: what a reload refuses stops the daemon at start,
// before it opens the state or a socket.
func TestStartRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		name  string
		spoil func(d *testDaemon)
		why   string
	}{
		{"missing", func(d *testDaemon) { require.NoError(t, os.Remove(d.cfgPath)) }, "no such file or directory: put the configuration file there"},
		{"dangling symlink", func(d *testDaemon) {
			require.NoError(t, os.Remove(d.cfgPath))
			require.NoError(t, os.Symlink(filepath.Join(d.dir, "nowhere.toml"), d.cfgPath))
		}, "no such file or directory"},
		{"group-writable", func(d *testDaemon) { require.NoError(t, os.Chmod(d.cfgPath, 0o664)) }, "run: chmod g-w"},
		{"world-writable", func(d *testDaemon) { require.NoError(t, os.Chmod(d.cfgPath, 0o646)) }, "run: chmod go-w"},
		{"not owned by root", func(d *testDaemon) { require.NoError(t, os.Chown(d.cfgPath, 12345, 12345)) }, "run: chown root:"},
		{"a directory", func(d *testDaemon) {
			require.NoError(t, os.Remove(d.cfgPath))
			require.NoError(t, os.Mkdir(d.cfgPath, 0o755))
		}, "not a regular file"},
		{"garbage", func(d *testDaemon) { d.writeConfig("\x7fELF ]]]") }, "TOML syntax error"},
	} {
		for _, asDefault := range []bool{false, true} {
			// Only a missing default file may start with the defaults, and
			// those would use /etc and /var/lib: that case is TestLoadConfig's.
			if asDefault && (c.name == "missing" || c.name == "dangling symlink") {
				continue
			}
			t.Run(fmt.Sprintf("%s, default path %v", c.name, asDefault), func(t *testing.T) {
				defer func(p string) { defaultConfigPath = p }(defaultConfigPath)
				d := newTestDaemon(t)
				c.spoil(d)
				configPath := d.cfgPath
				if asDefault {
					defaultConfigPath, configPath = d.cfgPath, ""
				}
				// Should Run start after all, it stops at the socket rather than serve.
				err := Run(context.Background(), Options{
					ConfigPath: configPath,
					Listeners: func() ([]net.Listener, error) {
						t.Error("Run accepted the configuration and went on to listen")
						return nil, errors.New("test: must not listen")
					},
					Stderr: d.stderr, Accounts: accounts{}, CredentialsDir: d.dir,
				})
				require.Error(t, err)
				require.Contains(t, err.Error(), "configuration: ")
				require.Contains(t, err.Error(), d.cfgPath)
				require.Contains(t, err.Error(), c.why)
				_, serr := os.Stat(filepath.Join(d.dir, "state"))
				require.ErrorIs(t, serr, fs.ErrNotExist, "no state opened")
			})
		}
	}
}

// TestLoadConfig: the one check of start and reload gives the defaults for
// a missing file only when asked to, as at start without --config.
func TestLoadConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "totpd.toml")
	c, err := loadConfig(missing, true)
	require.NoError(t, err)
	require.Equal(t, config.Default(), c)

	_, err = loadConfig(missing, false)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.ErrorContains(t, err, missing+": no such file or directory: put the configuration file there (see totpd.toml(5))")

	// Anything but a missing file is an error either way.
	require.NoError(t, os.WriteFile(missing, []byte("[policy]\nrequire = \"all\"\n"), 0o600))
	require.NoError(t, os.Chmod(missing, 0o660))
	for _, defaults := range []bool{true, false} {
		_, err = loadConfig(missing, defaults)
		require.ErrorContains(t, err, "run: chmod g-w")
		require.False(t, errors.Is(err, fs.ErrNotExist))
	}
	require.NoError(t, os.Chmod(missing, 0o600))
	c, err = loadConfig(missing, true)
	require.NoError(t, err)
	require.Equal(t, config.RequireAll, c.Policy.Require)
}

// TestOneLog: the daemon's Stderr receives the store's and the engine's
// notices as it receives its own, each a "totpd: " line: Run gives the
// three parts one Logf.
func TestOneLog(t *testing.T) {
	d := newTestDaemon(t)
	stateDir := filepath.Join(d.dir, "state")
	key, err := store.LoadMasterKey("", filepath.Join(d.dir, "master.key"))
	require.NoError(t, err)
	st, err := store.Open(stateDir, key, store.Options{Logf: func(string, ...any) {}})
	require.NoError(t, err)
	oldUID := uint32(999) // alice's record, made for an account since deleted
	require.NoError(t, st.Put(store.Record{User: "alice", UID: &oldUID, LastStep: -1}))
	require.NoError(t, st.Close())
	require.NoError(t, os.Chmod(stateDir, 0o755)) // the store sets it right, and says so

	d.run(d.cfgPath)
	c := &client.Client{Socket: d.sock, Timeout: 5 * time.Second}
	_, err = c.Call(context.Background(), wire.Request{Op: wire.OpLoginQuery, User: "alice", Service: "test"})
	require.Error(t, err, "the state of another uid is refused")

	logs := d.stderr.String()
	require.Contains(t, logs, "totpd: store: "+stateDir+" had mode 0755, set it to 0700\n", "the store's notice")
	require.Contains(t, logs, `totpd: the stored state of "alice" belongs to uid 999`, "the engine's notice")
}
