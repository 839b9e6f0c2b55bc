// Package e2e is the end-to-end suite of totpd: it builds the real
// daemon and CLI, runs them against real users and groups made with
// useradd and groupadd, and checks the contract of ARCHITECTURE.md (the daemon's rules), totpctl(1) and
// §6 from the outside. It needs root (it creates accounts and runs
// commands as them): without root the tests skip, or fail when CI=true.
//
// Nothing here sleeps to synchronise: every wait polls a condition with
// a deadline (socket accepting, log line present, lock expired, time
// step reached).
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/testutils"
)

// TestMain removes the binaries built for this run.
func TestMain(m *testing.M) {
	code := m.Run()
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
	os.Exit(code)
}

// ---------------------------------------------------------------------
// Environment checks (the rule is testutils.Unmet's: fail as root or
// under CI, else skip)

// toolsHint names the Debian packages that hold the programs the suite runs.
const toolsHint = "oathtool, zbar-tools, systemd, passwd, util-linux"

// requireTools stops a test when a program it needs is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	testutils.RequireTools(t, toolsHint, tools...)
}

// setup is the common start of every test: root, the tools, the binaries.
func setup(t *testing.T, tools ...string) binaries {
	t.Helper()
	testutils.RequireRoot(t, "the e2e suite creates users and runs commands as them: run `sudo go test ./e2e/`")
	requireTools(t, append([]string{"oathtool", "useradd", "userdel", "groupadd", "groupdel", "usermod"}, tools...)...)
	return bins(t)
}

// ---------------------------------------------------------------------
// Binaries

type binaries struct {
	Totpd, Totpctl, Wirecall, Flood string
	// FakeServer is e2e/testdata/fakeserver, a daemon that says yes, for
	// the clients' check that the server is root.
	FakeServer string
}

var (
	buildOnce sync.Once
	built     binaries
	builtErr  error
	builtDir  string
)

// moduleRoot is the repository root: tests run in e2e/.
func moduleRoot() (string, error) {
	return filepath.Abs("..")
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// bins builds totpd, totpctl and the wirecall helper once per run into a
// temporary directory every user can read (tests run them as other
// users), or takes totpd and totpctl from $TOTPD_BUILD_DIR.
// TOTPD_E2E_RACE=1 builds them with the race detector.
func bins(t *testing.T) binaries {
	t.Helper()
	buildOnce.Do(func() {
		builtDir, builtErr = os.MkdirTemp("", "totpd-e2e-bin-")
		if builtErr != nil {
			return
		}
		if builtErr = os.Chmod(builtDir, 0o755); builtErr != nil {
			return
		}
		root, err := moduleRoot()
		if err != nil {
			builtErr = err
			return
		}
		build := func(out, pkg string) error {
			args := []string{"build"}
			if os.Getenv("TOTPD_E2E_RACE") == "1" {
				args = append(args, "-race")
			}
			// totpd as the Makefile builds it: without fleet mode, which
			// it execs totpd-fleet for (daemon/exec.go).
			pkg, tags, _ := strings.Cut(pkg, " -tags ")
			if tags != "" {
				args = append(args, "-tags", tags)
			}
			args = append(args, "-o", out, pkg)
			cmd := exec.Command(goTool(), args...)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("go build %s: %v\n%s", pkg, err, b)
			}
			return nil
		}
		built.Wirecall = filepath.Join(builtDir, "wirecall")
		built.Flood = filepath.Join(builtDir, "flood")
		built.FakeServer = filepath.Join(builtDir, "fakeserver")
		jobs := map[string]string{built.Wirecall: "./e2e/testdata/wirecall", built.Flood: "./e2e/testdata/flood", built.FakeServer: "./e2e/testdata/fakeserver"}
		if dir := os.Getenv("TOTPD_BUILD_DIR"); dir != "" {
			built.Totpd, built.Totpctl = filepath.Join(dir, "totpd"), filepath.Join(dir, "totpctl")
			for _, p := range []string{built.Totpd, built.Totpctl, filepath.Join(dir, "totpd-fleet")} {
				if _, err := os.Stat(p); err != nil {
					builtErr = fmt.Errorf("TOTPD_BUILD_DIR=%s: %w", dir, err)
					return
				}
			}
		} else {
			built.Totpd, built.Totpctl = filepath.Join(builtDir, "totpd"), filepath.Join(builtDir, "totpctl")
			jobs[built.Totpd] = "./daemon/cmd/totpd -tags nofleet"
			jobs[filepath.Join(builtDir, "totpd-fleet")] = "./daemon/cmd/totpd"
			jobs[built.Totpctl] = "./cli"
		}
		errs := make(chan error, len(jobs))
		for out, pkg := range jobs {
			go func() { errs <- build(out, pkg) }()
		}
		for range jobs {
			builtErr = errors.Join(builtErr, <-errs)
		}
	})
	require.NoError(t, builtErr, "building the binaries")
	return built
}

// ---------------------------------------------------------------------
// Accounts

// account is a user made for one test.
type account struct {
	Name     string
	UID, GID uint32
}

// accountsMu serialises this process's useradd and friends, which lock
// /etc/passwd and /etc/group and fail rather than wait.
var accountsMu sync.Mutex

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// admin runs a system administration command, one at a time in this
// process, retrying while another holds the lock on /etc/passwd or
// /etc/group (testutils.RunAccountTool).
func admin(args ...string) error {
	accountsMu.Lock()
	defer accountsMu.Unlock()
	return testutils.RunAccountTool("", args...)
}

// newGroup makes a group for this test, removed at cleanup.
func newGroup(t *testing.T) string {
	t.Helper()
	name := "te2eg" + randHex(5)
	require.NoError(t, admin("groupadd", name))
	t.Cleanup(func() {
		if err := admin("groupdel", name); err != nil {
			t.Errorf("removing group %s: %v", name, err)
		}
	})
	return name
}

// newUser makes a user for this test (with its home), member of groups,
// removed at cleanup with its home.
func newUser(t *testing.T, groups ...string) account {
	t.Helper()
	name := "te2e" + randHex(5)
	args := []string{"useradd", "-m", "-s", "/bin/sh"}
	if len(groups) > 0 {
		args = append(args, "-G", strings.Join(groups, ","))
	}
	require.NoError(t, admin(append(args, name)...))
	t.Cleanup(func() {
		if err := admin("userdel", "-r", name); err != nil && !strings.Contains(err.Error(), "mail spool") {
			t.Errorf("removing user %s: %v", name, err)
		}
	})
	u, err := user.Lookup(name)
	require.NoError(t, err)
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return account{Name: name, UID: uint32(uid), GID: uint32(gid)}
}

// addToGroup makes a an additional member of group.
func addToGroup(t *testing.T, a account, group string) {
	t.Helper()
	require.NoError(t, admin("usermod", "-aG", group, a.Name))
}

// credential reports the process credentials of a, with its groups.
func (a account) credential() *syscall.Credential {
	c := &syscall.Credential{Uid: a.UID, Gid: a.GID}
	if u, err := user.Lookup(a.Name); err == nil {
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if n, err := strconv.ParseUint(id, 10, 32); err == nil {
					c.Groups = append(c.Groups, uint32(n))
				}
			}
		}
	}
	return c
}

// ---------------------------------------------------------------------
// Configuration

// config is what a test sets in totpd.toml; zero fields are left out so
// the daemon's defaults apply.
type config struct {
	AdminGroup      string
	MaxFailures     int
	LockoutDuration string
	Require         string
	Groups          []string
	ExemptUsers     []string
	ExemptGroups    []string
	GracePeriod     string
	EnrollAtLogin   bool
	Remember        string // [policy] remember
	ConfirmCodes    int
	RecoveryCodes   int
	// Extra is raw TOML put after the top-level keys (e.g. an unknown key).
	Extra string
}

func tomlList(l []string) string {
	q := make([]string, len(l))
	for i, s := range l {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// render writes the configuration for a daemon with the given paths.
func (c config) render(socket, stateDir, keyFile string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "socket = %q\nstate_dir = %q\nmaster_key_file = %q\nissuer = \"totpd-e2e\"\n", socket, stateDir, keyFile)
	if c.AdminGroup != "" {
		fmt.Fprintf(&b, "admin_group = %q\n", c.AdminGroup)
	}
	if c.Extra != "" {
		b.WriteString(c.Extra + "\n")
	}
	b.WriteString("\n[lockout]\n")
	if c.MaxFailures > 0 {
		fmt.Fprintf(&b, "max_failures = %d\n", c.MaxFailures)
	}
	if c.LockoutDuration != "" {
		fmt.Fprintf(&b, "duration = %q\n", c.LockoutDuration)
	}
	b.WriteString("\n[policy]\n")
	if c.Require != "" {
		fmt.Fprintf(&b, "require = %q\n", c.Require)
	}
	if c.Groups != nil {
		fmt.Fprintf(&b, "groups = %s\n", tomlList(c.Groups))
	}
	if c.ExemptUsers != nil {
		fmt.Fprintf(&b, "exempt_users = %s\n", tomlList(c.ExemptUsers))
	}
	if c.ExemptGroups != nil {
		fmt.Fprintf(&b, "exempt_groups = %s\n", tomlList(c.ExemptGroups))
	}
	if c.GracePeriod != "" {
		fmt.Fprintf(&b, "grace_period = %q\n", c.GracePeriod)
	}
	if c.EnrollAtLogin {
		b.WriteString("enroll_at_login = true\n")
	}
	if c.Remember != "" {
		fmt.Fprintf(&b, "remember = %q\n", c.Remember)
	}
	b.WriteString("\n[enroll]\n")
	if c.ConfirmCodes > 0 {
		fmt.Fprintf(&b, "confirm_codes = %d\n", c.ConfirmCodes)
	}
	b.WriteString("\n[recovery]\n")
	if c.RecoveryCodes > 0 {
		fmt.Fprintf(&b, "codes = %d\n", c.RecoveryCodes)
	}
	return b.String()
}

// ---------------------------------------------------------------------
// The daemon

// daemon is one totpd under test. Its files live in temporary
// directories: the socket in one every user can traverse, the state and
// key in the test's own.
type daemon struct {
	t        *testing.T
	bin      binaries
	Socket   string
	CfgPath  string
	StateDir string
	KeyFile  string
	// Env is added to the daemon's environment (e.g. NOTIFY_SOCKET).
	Env []string
	// Wrap, when set, is a command the daemon runs under (e.g. unshare
	// with a private /etc/passwd); it must exec the daemon in the end.
	Wrap []string

	mu      sync.Mutex
	proc    *process // the current run; nil when stopped
	allLogs testutils.LockedBuffer
}

// process is one run of totpd.
type process struct {
	cmd    *exec.Cmd
	stderr *testutils.LockedBuffer
	done   chan struct{}
	err    error // from Wait, valid once done is closed
	// expectExit is set when the test stops or kills it on purpose.
	expectExit bool
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// publicDir makes a root-owned directory every user can traverse: for
// sockets non-root callers must reach, and files setuid programs and sshd
// read (t.TempDir is 0700).
func publicDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "te2e-sock-")
	require.NoError(t, err)
	require.NoError(t, os.Chmod(dir, 0o755))
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// newDaemon prepares a daemon with cfg without starting it.
func newDaemon(t *testing.T, b binaries, cfg config) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{
		t:        t,
		bin:      b,
		Socket:   filepath.Join(publicDir(t), "totpd.sock"),
		CfgPath:  filepath.Join(dir, "totpd.toml"),
		StateDir: filepath.Join(dir, "state"),
		KeyFile:  filepath.Join(dir, "master.key"),
	}
	d.WriteConfig(cfg)
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			t.Logf("totpd stderr (all runs):\n%s", d.allLogs.String())
		}
	})
	return d
}

// startDaemon starts a daemon with cfg and waits until it answers.
func startDaemon(t *testing.T, b binaries, cfg config) *daemon {
	t.Helper()
	d := newDaemon(t, b, cfg)
	d.Start()
	return d
}

// WriteConfig replaces the configuration file (0600) with cfg.
func (d *daemon) WriteConfig(cfg config) {
	d.t.Helper()
	d.WriteConfigRaw(cfg.render(d.Socket, d.StateDir, d.KeyFile))
}

// WriteConfigRaw replaces the configuration file (0600) with text.
func (d *daemon) WriteConfigRaw(text string) {
	d.t.Helper()
	require.NoError(d.t, os.WriteFile(d.CfgPath, []byte(text), 0o600))
	require.NoError(d.t, os.Chmod(d.CfgPath, 0o600))
}

// launch starts a run of totpd with argv (the daemon's command line,
// possibly behind a wrapper such as systemd-socket-activate).
func (d *daemon) launch(argv ...string) *process {
	d.t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	require.Nil(d.t, d.proc, "a totpd is already running for this test")
	p := &process{stderr: &testutils.LockedBuffer{}, done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}, d.Env...)
	cmd.Stdout = &teeWriter{p.stderr, &d.allLogs}
	cmd.Stderr = cmd.Stdout
	require.NoError(d.t, cmd.Start())
	p.cmd = cmd
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	d.proc = p
	return p
}

type teeWriter struct{ a, b *testutils.LockedBuffer }

func (w *teeWriter) Write(p []byte) (int, error) {
	w.b.Write(p)
	return w.a.Write(p)
}

// StartProcess starts totpd --config and reports the run without waiting.
func (d *daemon) StartProcess() *process {
	d.t.Helper()
	return d.launch(append(append([]string(nil), d.Wrap...), d.bin.Totpd, "--config", d.CfgPath)...)
}

// Start starts totpd and waits until its socket accepts a connection.
func (d *daemon) Start() {
	d.t.Helper()
	p := d.StartProcess()
	d.waitReady(p)
}

// waitReady waits until the socket accepts a connection, failing at once
// if the daemon exits.
func (d *daemon) waitReady(p *process) {
	d.t.Helper()
	err := hostkit.WaitUnixSocket(context.Background(), d.Socket, 15*time.Second, p.done)
	if errors.Is(err, hostkit.ErrExited) {
		d.t.Fatalf("totpd exited before serving (%v):\n%s", p.err, p.stderr.String())
	}
	if err != nil {
		d.t.Fatalf("totpd did not serve: %v:\n%s", err, p.stderr.String())
	}
}

// current reports the current run.
func (d *daemon) current() *process {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.proc
}

// Pid reports the pid of the current run.
func (d *daemon) Pid() int {
	p := d.current()
	require.NotNil(d.t, p, "totpd is not running")
	return p.cmd.Process.Pid
}

// Stderr reports what the current (or last) run wrote to stderr.
func (d *daemon) Stderr() string {
	if p := d.current(); p != nil {
		return p.stderr.String()
	}
	return d.allLogs.String()
}

// WaitLog waits until the current run's stderr contains s.
func (d *daemon) WaitLog(s string, timeout time.Duration) {
	d.t.Helper()
	testutils.WaitFor(d.t, timeout, fmt.Sprintf("totpd to log %q (log so far:\n%s)", s, d.Stderr()), func() bool {
		return strings.Contains(d.Stderr(), s)
	})
}

// logMarks numbers syncLog's markers across the tests of the process.
var logMarks atomic.Int64

// syncLog waits until everything the daemon logged before now is in
// Stderr: it asks about an account that does not exist, whose refusal is
// audited after every line of the requests answered before it (each is
// audited before its answer), and waits for that line.
func (d *daemon) syncLog() {
	d.t.Helper()
	name := fmt.Sprintf("te2emark%d", logMarks.Add(1))
	_, err := d.Call(wire.Request{Op: wire.OpLoginQuery, User: name, Service: "e2e-mark"})
	require.Equal(d.t, wire.ErrCodeNoUser, errCode(err), "the marker %s must be an unknown account", name)
	d.WaitLog(fmt.Sprintf("user=%q", name), 10*time.Second)
}

// Alive fails the test if the current run has exited.
func (d *daemon) Alive() {
	d.t.Helper()
	p := d.current()
	require.NotNil(d.t, p, "totpd is not running")
	if p.exited() {
		d.t.Fatalf("totpd exited (%v):\n%s", p.err, p.stderr.String())
	}
}

// Signal sends sig to the current run.
func (d *daemon) Signal(sig syscall.Signal) {
	d.t.Helper()
	require.NoError(d.t, syscall.Kill(d.Pid(), sig))
}

// Stop stops the current run with SIGTERM, waiting for it (SIGKILL after
// 10 s), and reports its exit error. A run that had already exited by
// itself is an error of the test: the daemon crashed.
func (d *daemon) Stop() error {
	d.mu.Lock()
	p := d.proc
	d.proc = nil
	d.mu.Unlock()
	if p == nil {
		return nil
	}
	if p.exited() && !p.expectExit {
		d.t.Errorf("totpd exited on its own before the test stopped it (%v):\n%s", p.err, p.stderr.String())
		return p.err
	}
	p.expectExit = true
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		d.t.Errorf("totpd did not stop within 10s of SIGTERM; killing it")
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	return p.err
}

// Kill kills the current run with SIGKILL and waits for it.
func (d *daemon) Kill() {
	d.t.Helper()
	d.mu.Lock()
	p := d.proc
	d.proc = nil
	d.mu.Unlock()
	require.NotNil(d.t, p, "totpd is not running")
	p.expectExit = true
	_ = p.cmd.Process.Kill()
	<-p.done
}

// WaitExit waits for the current run to end by itself and reports its
// stderr and exit error.
func (d *daemon) WaitExit(timeout time.Duration) (string, error) {
	d.t.Helper()
	p := d.current()
	require.NotNil(d.t, p)
	p.expectExit = true
	select {
	case <-p.done:
	case <-time.After(timeout):
		d.t.Fatalf("totpd still running after %v:\n%s", timeout, p.stderr.String())
	}
	d.mu.Lock()
	d.proc = nil
	d.mu.Unlock()
	return p.stderr.String(), p.err
}

// ---------------------------------------------------------------------
// Talking to the daemon

// Call sends req as root through the shared client package.
func (d *daemon) Call(req wire.Request) (*wire.Response, error) {
	return client.New(d.Socket, 10*time.Second).Call(context.Background(), req)
}

// MustOK sends req as root and fails the test on any refusal.
func (d *daemon) MustOK(req wire.Request) *wire.Response {
	d.t.Helper()
	resp, err := d.Call(req)
	require.NoError(d.t, err, "%s %s", req.Op, req.User)
	return resp
}

// Query asks what applies to user at a login (as root).
func (d *daemon) Query(user string) *wire.Response {
	d.t.Helper()
	return d.MustOK(wire.Request{Op: wire.OpLoginQuery, User: user, Service: "e2e"})
}

// Verify sends a code for user at a login (as root).
func (d *daemon) Verify(user, code string) (*wire.Response, error) {
	return d.Call(wire.Request{Op: wire.OpLoginVerify, User: user, Code: code, Service: "e2e"})
}

// errCode reports the daemon's error code in err, or "" for none, or
// "unavailable" for a transport failure.
func errCode(err error) string {
	if err == nil {
		return ""
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	if client.IsUnavailable(err) {
		return "unavailable"
	}
	return "other: " + err.Error()
}

// callAs sends req as account a: wirecall runs under a's uid, so the
// daemon sees a's SO_PEERCRED.
func (d *daemon) CallAs(a account, req wire.Request) (*wire.Response, error) {
	d.t.Helper()
	body, err := json.Marshal(req)
	require.NoError(d.t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin.Wirecall)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.credential()}
	cmd.Env = []string{"TOTPD_SOCKET=" + d.Socket, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(body)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(d.t, err, "wirecall as %s: %s", a.Name, stderr.String())
	var o struct {
		Response    *wire.Response `json:"response"`
		Unavailable string         `json:"unavailable"`
	}
	require.NoError(d.t, json.Unmarshal(out, &o), "wirecall output %q", out)
	if o.Unavailable != "" {
		return nil, &client.UnavailableError{Socket: d.Socket, Err: errors.New(o.Unavailable)}
	}
	require.NotNil(d.t, o.Response)
	if o.Response.Error != nil {
		return o.Response, o.Response.Error
	}
	return o.Response, nil
}

// ---------------------------------------------------------------------
// totpctl

// ctlResult is what one totpctl run did.
type ctlResult struct {
	Stdout, Stderr string
	Code           int
}

func (r ctlResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// ctlCmd prepares totpctl with args as a (nil: root), talking to socket:
// given in $TOTPD_SOCKET, and for root, which ignores that, with --socket
// before args (a later --socket in args wins).
func ctlCmd(b binaries, socket string, as *account, args ...string) *exec.Cmd {
	if as == nil && socket != "" {
		args = append([]string{"--socket", socket}, args...)
	}
	cmd := exec.Command(b.Totpctl, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "TZ=UTC"}
	if socket != "" {
		cmd.Env = append(cmd.Env, client.SocketEnv+"="+socket)
	}
	cmd.Dir = "/"
	if as != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: as.credential()}
		cmd.Env = append(cmd.Env, "HOME=/home/"+as.Name, "USER="+as.Name)
	}
	return cmd
}

// runCtl runs totpctl to completion with stdin and reports its outputs
// and exit status.
func runCtl(t *testing.T, b binaries, socket string, as *account, stdin string, args ...string) ctlResult {
	t.Helper()
	cmd := ctlCmd(b, socket, as, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Start()
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("totpctl %v did not finish within 30s", args)
	}
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return ctlResult{Stdout: out.String(), Stderr: errb.String(), Code: code}
}

// Ctl runs totpctl as root against d.
func (d *daemon) Ctl(args ...string) ctlResult {
	d.t.Helper()
	return runCtl(d.t, d.bin, d.Socket, nil, "", args...)
}

// CtlAs runs totpctl as a against d.
func (d *daemon) CtlAs(a account, args ...string) ctlResult {
	d.t.Helper()
	return runCtl(d.t, d.bin, d.Socket, &a, "", args...)
}

// CtlOK runs totpctl as a (nil: root) and requires exit 0.
func (d *daemon) CtlOK(as *account, args ...string) ctlResult {
	d.t.Helper()
	r := runCtl(d.t, d.bin, d.Socket, as, "", args...)
	require.Equal(d.t, 0, r.Code, "totpctl %v: %s", args, r)
	return r
}

// CtlJSON runs totpctl as a (nil: root), requires exit 0 and decodes stdout.
func (d *daemon) CtlJSON(as *account, v any, args ...string) {
	d.t.Helper()
	r := d.CtlOK(as, args...)
	require.NoError(d.t, json.Unmarshal([]byte(r.Stdout), v), "totpctl %v stdout: %s", args, r.Stdout)
}

// statusJSON is `totpctl status --json` and `user show --json`.
type statusJSON struct {
	User              string  `json:"user"`
	Enrolled          bool    `json:"enrolled"`
	Required          bool    `json:"required"`
	Override          *string `json:"override"`
	Deadline          *string `json:"deadline"`
	Locked            bool    `json:"locked"`
	LockedUntil       *string `json:"locked_until"`
	Failures          int     `json:"failures"`
	LastSuccess       *string `json:"last_success"`
	RecoveryCodesLeft int     `json:"recovery_codes_left"`
	PendingEnrollment bool    `json:"pending_enrollment"`
	StateError        *string `json:"state_error"`
}

// Show reports `totpctl user show NAME --json` as root.
func (d *daemon) Show(name string) statusJSON {
	d.t.Helper()
	var s statusJSON
	d.CtlJSON(nil, &s, "user", "show", name, "--json")
	require.Equal(d.t, name, s.User)
	return s
}

// adminEnrollment is `totpctl user enroll NAME --json`.
type adminEnrollment struct {
	User          string   `json:"user"`
	Secret        string   `json:"secret"`
	URI           string   `json:"uri"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// Enroll enrolls name as root with `totpctl user enroll NAME --json`.
func (d *daemon) Enroll(name string) adminEnrollment {
	d.t.Helper()
	var e adminEnrollment
	d.CtlJSON(nil, &e, "user", "enroll", name, "--json")
	require.Equal(d.t, name, e.User)
	require.NotEmpty(d.t, e.Secret)
	return e
}

// ---------------------------------------------------------------------
// TOTP codes, from oathtool

const period = 30 * time.Second

// stepOf reports the 30-second TOTP step of at.
func stepOf(at time.Time) int64 { return at.Unix() / int64(period/time.Second) }

// codeAt reports the code of secret (Base32) at time at, by oathtool.
func codeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command("oathtool", "--totp", "-b", "--now", "@"+strconv.FormatInt(at.Unix(), 10), secret).CombinedOutput()
	require.NoError(t, err, "oathtool: %s", out)
	code := strings.TrimSpace(string(out))
	require.Len(t, code, 6, "oathtool output %q", out)
	return code
}

// codeForStep reports the code of secret for a 30-second step.
func codeForStep(t *testing.T, secret string, step int64) string {
	t.Helper()
	return codeAt(t, secret, time.Unix(step*int64(period/time.Second)+1, 0))
}

// codesFrom reports the codes of steps first … first+n-1 in one oathtool run.
func codesFrom(t testing.TB, secret string, first int64, n int) []string {
	t.Helper()
	at := strconv.FormatInt(first*int64(period/time.Second)+1, 10)
	out, err := exec.Command("oathtool", "--totp", "-b", "-w", strconv.Itoa(n-1), "--now", "@"+at, secret).CombinedOutput()
	require.NoError(t, err, "oathtool: %s", out)
	var codes []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			codes = append(codes, l)
		}
	}
	require.Len(t, codes, n, "oathtool output %q", out)
	return codes
}

// stableStep waits, if need be, until at least margin is left in the
// current TOTP step, and reports that step: codes for it and its
// neighbours then stay where the test expects them while it runs.
func stableStep(t *testing.T, margin time.Duration) int64 {
	t.Helper()
	now := time.Now()
	next := time.Unix((stepOf(now)+1)*int64(period/time.Second), 0)
	if next.Sub(now) < margin {
		testutils.WaitFor(t, margin+time.Second, "the next TOTP step", func() bool { return !time.Now().Before(next) })
	}
	return stepOf(time.Now())
}

// ---------------------------------------------------------------------
// Raw frames

// frame reports body as a wire frame.
func frame(body []byte) []byte {
	b := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(b, uint32(len(body)))
	copy(b[4:], body)
	return b
}

// rawExchange writes raw bytes to a new connection and reads one answer
// frame; a closed connection gives an error.
func rawExchange(socket string, raw []byte, timeout time.Duration) (*wire.Response, error) {
	c, err := net.DialTimeout("unix", socket, timeout)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(raw); err != nil {
		return nil, err
	}
	var resp wire.Response
	if err := wire.ReadJSON(c, wire.MaxFrame, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// ---------------------------------------------------------------------
// Logs

// journalPresent reports whether the daemon's audit goes to the journal
// rather than to stderr.
func journalPresent() bool {
	_, err := os.Stat("/run/systemd/journal/socket")
	return err == nil
}

// requireNoSecrets checks that logs hold none of the secrets (Base32
// keys, recovery codes, in any spelling) nor any of the codes as a
// number of its own.
func requireNoSecrets(t *testing.T, logs string, secrets, codes []string) {
	t.Helper()
	low := strings.ToLower(logs)
	for _, s := range secrets {
		require.NotContains(t, low, strings.ToLower(s), "a secret or recovery code in the log")
		require.NotContains(t, low, strings.ToLower(strings.ReplaceAll(s, "-", "")), "a secret or recovery code in the log")
	}
	for _, c := range codes {
		require.NotRegexp(t, `(^|[^0-9])`+c+`([^0-9]|$)`, logs, "a code in the log")
	}
}
