package e2e

// The host matrix of ARCHITECTURE.md, "The host matrix": pam_totpd.so inside the real programs
// that load it (pamtester, sshd, su, sudo, login), talking to the real
// daemon. This file holds the helpers those tests share; every name
// starts with "host" to stay clear of the rest of the suite.
//
// The tests never change the machine's login configuration: each writes
// its own /etc/pam.d/totpd-e2e-* service (removed at cleanup), runs sshd
// under its own service name through a symlink, and runs su, sudo and
// login (whose service names are fixed) in a private mount namespace
// where the test's stack is bind-mounted over theirs.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/testutils"
)

// hostSetup is the start of every host test: root, the tools, the
// daemon's binaries and the PAM module.
func hostSetup(t *testing.T, tools ...string) (binaries, string) {
	t.Helper()
	b := setup(t, tools...)
	return b, hostModule(t)
}

// ---------------------------------------------------------------------
// The module

var (
	hostModuleOnce sync.Once
	hostModulePath string
	hostModuleErr  error
)

// hostModule reports the absolute path of pam_totpd.so (with
// pam_totpd_go.so beside it). It is built once per run by pam/build.sh,
// the script `make build` runs, into a directory of the run's build
// directory (root-owned, 0755: the loader refuses anything else when the
// host runs as root), or taken from $TOTPD_BUILD_DIR like the daemon.
func hostModule(t *testing.T) string {
	t.Helper()
	bins(t) // makes builtDir, which TestMain removes
	hostModuleOnce.Do(func() {
		if dir := os.Getenv("TOTPD_BUILD_DIR"); dir != "" {
			abs, err := filepath.Abs(dir)
			if err != nil {
				hostModuleErr = err
				return
			}
			for _, f := range []string{"pam_totpd.so", "pam_totpd_go.so"} {
				if _, err := os.Stat(filepath.Join(abs, f)); err != nil {
					hostModuleErr = fmt.Errorf("TOTPD_BUILD_DIR=%s: %w", dir, err)
					return
				}
			}
			hostModulePath = filepath.Join(abs, "pam_totpd.so")
			return
		}
		root, err := moduleRoot()
		if err != nil {
			hostModuleErr = err
			return
		}
		dir := filepath.Join(builtDir, "pam")
		if hostModuleErr = os.Mkdir(dir, 0o755); hostModuleErr != nil {
			return
		}
		if hostModuleErr = os.Chmod(dir, 0o755); hostModuleErr != nil {
			return
		}
		cmd := exec.Command("sh", filepath.Join(root, "pam", "build.sh"), dir)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GO="+goTool())
		if out, err := cmd.CombinedOutput(); err != nil {
			hostModuleErr = fmt.Errorf("pam/build.sh: %v\n%s", err, out)
			return
		}
		hostModulePath = filepath.Join(dir, "pam_totpd.so")
	})
	require.NoError(t, hostModuleErr, "building the PAM module")
	return hostModulePath
}

// ---------------------------------------------------------------------
// contrib/ files and PAM services

// hostContrib reports the text of a shipped file under contrib/.
func hostContrib(t *testing.T, rel string) string {
	t.Helper()
	root, err := moduleRoot()
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, "contrib", rel))
	require.NoError(t, err)
	return string(b)
}

// hostContribPath reports the absolute path of a shipped file under contrib/.
func hostContribPath(t *testing.T, rel string) string {
	t.Helper()
	root, err := moduleRoot()
	require.NoError(t, err)
	p := filepath.Join(root, "contrib", rel)
	_, err = os.Stat(p)
	require.NoError(t, err)
	return p
}

// hostAdapt is the one change a test makes to a shipped PAM file
// (hostkit.AdaptStack): every `pam_totpd.so` of a non-comment line becomes
// the absolute path of the module under test followed by socket=SOCKET
// timeout=TIMEOUT. Nothing else in the file changes. A file without the
// module is a test bug.
func hostAdapt(t *testing.T, text, module, socket string, timeout int) string {
	t.Helper()
	out, err := hostkit.AdaptStack(text, module, socket, timeout)
	require.NoError(t, err)
	return out
}

// hostContribStack reports the shipped PAM file rel adapted for a test.
func hostContribStack(t *testing.T, rel, module, socket string, timeout int) string {
	t.Helper()
	return hostAdapt(t, hostContrib(t, rel), module, socket, timeout)
}

// hostService writes text as a PAM service of its own,
// /etc/pam.d/totpd-e2e-KIND-RANDOM, removed at cleanup, and reports its name.
func hostService(t *testing.T, kind, text string) string {
	t.Helper()
	name := hostkit.ServiceName("totpd-e2e-" + kind)
	path, err := hostkit.WritePAMService(name, text)
	require.NoError(t, err)
	t.Cleanup(func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("removing %s: %v", path, err)
		}
	})
	return name
}

// hostFile writes text to a new file of dir with mode and reports its path.
func hostFile(t *testing.T, dir, name, text string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(text), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

// ---------------------------------------------------------------------
// Running programs

// hostRun is what one program run did.
type hostRun struct {
	Stdout, Stderr string
	Code           int
	Elapsed        time.Duration
}

func (r hostRun) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout:\n%s\nstderr:\n%s", r.Code, r.Elapsed.Round(time.Millisecond), r.Stdout, r.Stderr)
}

// Out is stdout and stderr together.
func (r hostRun) Out() string { return r.Stdout + r.Stderr }

// hostExec runs cmd with stdin to completion, killing it (and failing the
// test) after limit.
func hostExec(t *testing.T, cmd *exec.Cmd, stdin string, limit time.Duration) hostRun {
	t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Stdin = strings.NewReader(stdin)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	start := time.Now()
	require.NoError(t, cmd.Start(), "starting %v", cmd.Args)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(limit):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("%v did not finish within %v\nstdout:\n%s\nstderr:\n%s", cmd.Args, limit, out.String(), errb.String())
	}
	r := hostRun{Stdout: out.String(), Stderr: errb.String(), Elapsed: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code = ee.ExitCode()
	} else {
		require.NoError(t, err, "%v", cmd.Args)
	}
	return r
}

// hostEnv is the environment programs under test get.
func hostEnv(extra ...string) []string {
	return append([]string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "TERM=dumb"}, extra...)
}

// pamtester prints these for the results of pam_authenticate.
const (
	hostPtSuccess = "successfully authenticated"
	hostPtAuthErr = "Authentication failure"
	hostPtUnavail = "Authentication service cannot retrieve authentication info"
)

// hostPamtester authenticates user with pamtester on service, stdin being
// the person's typing, and bounds the run at limit.
func hostPamtester(t *testing.T, service, user, stdin string, limit time.Duration) hostRun {
	t.Helper()
	cmd := exec.Command("pamtester", "-v", "-I", "rhost=198.51.100.9", "-I", "tty=pts/7", service, user, "authenticate")
	cmd.Env = hostEnv()
	return hostExec(t, cmd, stdin, limit)
}

// ---------------------------------------------------------------------
// Accounts

// hostSetPasswords sets the passwords of users (name → password) with one chpasswd.
func hostSetPasswords(t *testing.T, pw map[string]string) {
	t.Helper()
	var in strings.Builder
	for name, p := range pw {
		fmt.Fprintf(&in, "%s:%s\n", name, p)
	}
	accountsMu.Lock()
	defer accountsMu.Unlock()
	if err := testutils.RunAccountTool(in.String(), "chpasswd"); err != nil {
		t.Fatal(err)
	}
}

// hostPassword reports a password for a test user: not a TOTP code, not
// shaped like a recovery code.
func hostPassword() string { return "Pw-" + randHex(6) + "!" }

// hostHome reports the home directory of a.
func hostHome(t *testing.T, a account) string {
	t.Helper()
	u, err := user.Lookup(a.Name)
	require.NoError(t, err)
	return u.HomeDir
}

// hostAuthorizeKey writes authorizedKey as a's ~/.ssh/authorized_keys,
// with the ownership and modes sshd's StrictModes wants.
func hostAuthorizeKey(t *testing.T, a account, authorizedKey []byte) {
	t.Helper()
	home := hostHome(t, a)
	dir := filepath.Join(home, ".ssh")
	require.NoError(t, os.MkdirAll(dir, 0o700))
	f := filepath.Join(dir, "authorized_keys")
	require.NoError(t, os.WriteFile(f, authorizedKey, 0o600))
	for _, p := range []string{dir, f} {
		require.NoError(t, os.Chown(p, int(a.UID), int(a.GID)))
	}
}

// hostEnroll enrolls a as an admin would (`totpctl user enroll`, through
// the wire protocol for speed when many users are needed) and reports the
// secret and recovery codes.
func hostEnroll(t *testing.T, d *daemon, a account) *wire.Enrollment {
	t.Helper()
	resp, err := d.Call(wire.Request{Op: wire.OpUserEnroll, User: a.Name})
	require.NoError(t, err, "enrolling %s", a.Name)
	require.NotNil(t, resp.Enrollment)
	require.NotEmpty(t, resp.Enrollment.Secret)
	require.NotEmpty(t, resp.Enrollment.RecoveryCodes)
	return resp.Enrollment
}

// hostWrongCode reports six digits that are no code of secret near now.
func hostWrongCode(t *testing.T, secret string) string {
	t.Helper()
	near := strings.Join(codesFrom(t, secret, stepOf(time.Now())-4, 9), " ")
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		if !strings.Contains(near, c) {
			return c
		}
	}
	t.Fatal("no wrong code found")
	return ""
}

// hostAudit reports the daemon's audit lines (stderr: no journal in the
// tests) about user, as of now: the log reaches the test through a pipe
// and a copying goroutine, so it first waits for a marker (syncLog).
func hostAudit(d *daemon, user string) []string {
	d.syncLog()
	var out []string
	for _, l := range strings.Split(d.Stderr(), "\n") {
		if strings.Contains(l, fmt.Sprintf("user=%q", user)) {
			out = append(out, l)
		}
	}
	return out
}

// ---------------------------------------------------------------------
// Private mount namespaces, for programs whose PAM service name is fixed

// hostNamespaced reports a command that runs argv in a new private mount
// namespace where binds are mounted first (hostkit.Private): only that
// process tree sees them, the machine's files stay as they are.
func hostNamespaced(binds []hostkit.Bind, argv ...string) *exec.Cmd {
	args, _ := hostkit.Private{Binds: binds}.Argv(argv...) // no Etc: cannot fail
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = hostEnv()
	cmd.Dir = "/"
	return cmd
}

// ---------------------------------------------------------------------
// Processes

func hostDescribe(procs map[int]string) string {
	var l []string
	for p, c := range procs {
		l = append(l, fmt.Sprintf("  %d %s", p, c))
	}
	sort.Strings(l)
	return strings.Join(l, "\n")
}
