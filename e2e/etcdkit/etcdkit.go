// Package etcdkit runs a real etcd cluster for the fleet-mode tests
// (PRODUCT.md §8, issue 13): Debian's etcd-server, N members (3 unless
// told) on free 127.0.0.1 ports, each with its data dir under t.TempDir(),
// optionally with TLS and client certificates and an RBAC user limited to
// totpd's prefix, started and stopped by the test.
//
// Why a real etcd: fleet mode's promises (a code works once across hosts,
// lockout across hosts, offline decisions while etcd is away) rest on what
// the server does (linearizable reads, transactions on a revision, auth),
// which a fake would only restate. Debian's 3.4 server is what the
// project's hosts install, so it is what the tests run against.
//
// How issue 13's tests use it:
//
//	c := etcdkit.Start(t, etcdkit.Options{TLS: true, RBAC: true})
//	// each totpd host gets c.ClusterTOML(`offline = "local"`) in its config
//	c.Kill(0)                                     // one member down: logins go on
//	if err := c.WaitHealthy(time.Now().Add(20 * time.Second)); err != nil { … }
//	for i := range c.Len() { c.Kill(i) }          // all of etcd down: offline mode
//	for i := range c.Len() { c.Restart(i) }       // etcd back: write-back
//	out, err := c.Etcdctl("get", "--prefix", "/totpd/") // nothing in clear
//	cli, err := c.Client(etcdkit.ClientOptions{Root: true}) // inspect revisions
//
// Every member is stopped by its pid at t.Cleanup (SIGTERM, then SIGKILL),
// and dies with the test process (Pdeathsig) if that is killed. Nothing
// here sleeps to synchronise: waits poll a condition with a deadline.
// Calls are made from the test's goroutine.
//
// The harness takes a TB, which testing.TB satisfies; a program that is
// not a test (the bench, e2e/bench) passes a stand-in of its own.
package etcdkit

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/totpd/totpd/e2e/testutils"
)

// Binary is Debian's etcd server (package etcd-server); Etcdctl's program
// is EtcdctlBinary (package etcd-client).
const (
	Binary        = "/usr/bin/etcd"
	EtcdctlBinary = "/usr/bin/etcdctl"
)

// Options say what cluster to start.
type Options struct {
	// Members is the number of members; 0 means 3, the smallest cluster
	// that keeps a quorum with one member down.
	Members int
	// TLS serves clients and peers over TLS with a CA of the harness's
	// own, and requires client certificates (client-cert-auth).
	TLS bool
	// RBAC adds a root user, a role with readwrite on Prefix only and a
	// user with that role and a password, then enables auth.
	RBAC bool
	// Prefix is the RBAC role's key prefix; "" means "/totpd/", §8's default.
	Prefix string
	// User names the limited user and its role; "" means "totpd".
	User string
	// Ready bounds the wait for the cluster to come up; 0 means 60 s
	// (three members on two shared CPUs under `make test`).
	Ready time.Duration
}

// RBACUser is the limited user of an RBAC cluster, as totpd's
// `username` and `password_file` take it.
type RBACUser struct {
	Name, Password string
	// PasswordFile (0600) holds Password and one newline, as `echo` or an
	// admin's editor writes it: the reader is expected to drop one
	// trailing newline.
	PasswordFile string
	Role, Prefix string
}

// Cluster is a running etcd cluster started by Start.
type Cluster struct {
	t        TB
	opts     Options
	base     string // everything of the cluster: data dirs, logs, TLS files
	members  []*member
	tls      TLSFiles
	user     RBACUser
	rootPass string
	pids     []int // every pid ever started, for the leftovers check
}

type member struct {
	name      string
	dir       string // data dir
	logFile   string
	clientURL string
	peerURL   string
	args      []string
	cmd       *exec.Cmd
	done      chan struct{} // closed once cmd has been waited for
	up        bool          // started and neither killed nor stopped by the harness
}

// TB is what the harness needs of its caller: testing.TB has it all. A
// program's stand-in must stop the calling goroutine in Fatalf (as
// testing does), run the functions given to Cleanup when it is done with
// the cluster, last first, and give each TempDir call a fresh directory.
type TB interface {
	Helper()
	Cleanup(func())
	TempDir() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
	Failed() bool
}

// unmet stops the caller for a missing program: testutils.Unmet's rule
// for a test (a failure under CI or as root, else a skip), a failure for
// anyone else.
func unmet(t TB, format string, args ...any) {
	t.Helper()
	if tb, ok := t.(testing.TB); ok {
		testutils.Unmet(tb, format, args...)
		return
	}
	t.Fatalf(format, args...)
}

var errPortTaken = errors.New("a port was taken between choosing and binding it")

// Start starts the cluster and waits until every member answers a
// linearizable read; with RBAC it then sets up the users and enables auth.
// A missing etcd fails the test under CI or as root (testutils.Unmet).
func Start(t TB, o Options) *Cluster {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		unmet(t, "%s is missing (Debian: etcd-server; `make deps` installs it): %v", Binary, err)
	}
	if o.Members == 0 {
		o.Members = 3
	}
	if o.Prefix == "" {
		o.Prefix = "/totpd/"
	}
	if o.User == "" {
		o.User = "totpd"
	}
	if o.Ready == 0 {
		o.Ready = 60 * time.Second
	}
	c := &Cluster{t: t, opts: o, base: t.TempDir()}
	t.Cleanup(c.cleanup)
	if o.TLS {
		if err := c.makeTLS(); err != nil {
			t.Fatalf("etcdkit: making the TLS files in %s: %v", c.base, err)
		}
	}
	// The ports are chosen free, then closed for etcd to bind: another
	// test may take one meanwhile. That shows as a member exiting with
	// "address already in use", and a fresh set of ports is tried.
	for attempt := 1; ; attempt++ {
		err := c.boot(attempt)
		if err == nil {
			break
		}
		c.StopAll()
		if errors.Is(err, errPortTaken) && attempt < 3 {
			t.Logf("etcdkit: attempt %d: %v; again with other ports", attempt, err)
			continue
		}
		t.Fatalf("etcdkit: starting %d etcd members: %v", o.Members, err)
	}
	if o.RBAC {
		if err := c.setupRBAC(); err != nil {
			t.Fatalf("etcdkit: setting up RBAC: %v", err)
		}
	}
	return c
}

func (c *Cluster) makeTLS() error {
	p, err := newPKI(filepath.Join(c.base, "tls"))
	if err != nil {
		return err
	}
	c.tls.CA = p.caFile
	c.tls.Cert, c.tls.Key, err = p.issue("client", ClientCN, false)
	if err != nil {
		return err
	}
	for i := range c.opts.Members {
		if _, _, err := p.issue(fmt.Sprintf("member%d", i), fmt.Sprintf("etcdkit member%d", i), true); err != nil {
			return err
		}
	}
	return nil
}

// boot lays out the members of one attempt on fresh ports and data dirs,
// starts them and waits for the cluster.
func (c *Cluster) boot(attempt int) error {
	ports, err := freePorts(2 * c.opts.Members)
	if err != nil {
		return err
	}
	scheme := "http"
	if c.opts.TLS {
		scheme = "https"
	}
	c.members = nil
	var initial []string
	for i := range c.opts.Members {
		name := fmt.Sprintf("member%d", i)
		dir := filepath.Join(c.base, fmt.Sprintf("try%d", attempt), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		m := &member{
			name:      name,
			dir:       dir,
			logFile:   dir + ".log",
			clientURL: fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i]),
			peerURL:   fmt.Sprintf("%s://127.0.0.1:%d", scheme, ports[2*i+1]),
		}
		c.members = append(c.members, m)
		initial = append(initial, name+"="+m.peerURL)
	}
	// The token makes the cluster's id unique, so that members of two
	// clusters can never take each other for peers.
	token := fmt.Sprintf("etcdkit-%d-%d-%d", os.Getpid(), time.Now().UnixNano(), attempt)
	for _, m := range c.members {
		m.args = []string{
			"--name", m.name, "--data-dir", m.dir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new", "--initial-cluster-token", token,
			// zap, not 3.4's deprecated default logger, which warns on every start.
			"--logger", "zap", "--log-outputs", "stderr",
		}
		if c.opts.TLS {
			// etcd 3.4 already refuses a client without a certificate from
			// the CA once --trusted-ca-file is given (TestTLS showed it);
			// --client-cert-auth adds the CN-as-user rule of ClientCN.
			cert := filepath.Join(c.base, "tls", m.name+".pem")
			key := filepath.Join(c.base, "tls", m.name+"-key.pem")
			m.args = append(m.args,
				"--cert-file", cert, "--key-file", key, "--trusted-ca-file", c.tls.CA, "--client-cert-auth",
				"--peer-cert-file", cert, "--peer-key-file", key, "--peer-trusted-ca-file", c.tls.CA, "--peer-client-cert-auth")
		}
		if err := c.start(m); err != nil {
			return err
		}
	}
	return c.WaitHealthy(time.Now().Add(c.opts.Ready))
}

// freePorts reports n distinct free loopback ports, holding all of them
// open until all are chosen so that none is reported twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// start runs m's etcd, its output appended to m.logFile. Restarting uses
// the same arguments: with a data dir in place etcd ignores the
// --initial-* flags and rejoins as the member it was.
func (c *Cluster) start(m *member) error {
	log, err := os.OpenFile(m.logFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	cmd := exec.Command(Binary, m.args...)
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = log, log
	// A test binary killed by `go test -timeout` runs no cleanup; the
	// members must not outlive it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s for %s: %w", Binary, m.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	m.cmd, m.done, m.up = cmd, done, true
	c.pids = append(c.pids, cmd.Process.Pid)
	return nil
}

// cleanEnv is the environment without ETCD_* and ETCDCTL_* variables:
// etcd reads its flags from them too, and refuses to start when a flag is
// given both ways.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}

// Len is the number of members.
func (c *Cluster) Len() int { return len(c.members) }

// Endpoints reports every member's client URL, as totpd's `endpoints`
// takes them.
func (c *Cluster) Endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.clientURL)
	}
	return eps
}

// Endpoint reports member i's client URL.
func (c *Cluster) Endpoint(i int) string { return c.member(i).clientURL }

// ClientTLS reports the CA, client certificate and key files (zero
// without Options.TLS).
func (c *Cluster) ClientTLS() TLSFiles { return c.tls }

// User reports the limited RBAC user (zero without Options.RBAC).
func (c *Cluster) User() RBACUser { return c.user }

// Pid reports member i's current pid (0 when it is not running).
func (c *Cluster) Pid(i int) int {
	if m := c.member(i); m.up {
		return m.cmd.Process.Pid
	}
	return 0
}

// Pids reports every pid the cluster has ever started, restarts included.
func (c *Cluster) Pids() []int { return append([]int(nil), c.pids...) }

// LogFile reports member i's log (its output across restarts).
func (c *Cluster) LogFile(i int) string { return c.member(i).logFile }

func (c *Cluster) member(i int) *member {
	c.t.Helper()
	if i < 0 || i >= len(c.members) {
		c.t.Fatalf("etcdkit: no member %d in a cluster of %d", i, len(c.members))
	}
	return c.members[i]
}

// Kill sends member i SIGKILL, as a crash or a pulled plug would end it,
// and waits until it has exited.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	m := c.member(i)
	if !m.up {
		c.t.Fatalf("etcdkit: Kill(%d): %s is not running", i, m.name)
	}
	// Through os.Process (a pidfd): a member that has exited and been
	// reaped cannot make the signal hit another process given its pid.
	_ = m.cmd.Process.Kill()
	m.up = false
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		c.t.Fatalf("etcdkit: %s (pid %d) still runs 10 s after SIGKILL", m.name, m.cmd.Process.Pid)
	}
}

// Restart starts member i again, on its ports and data dir, after Kill or
// StopAll; WaitHealthy says when it has rejoined.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	m := c.member(i)
	if m.up {
		c.t.Fatalf("etcdkit: Restart(%d): %s is still running (pid %d): Kill it first", i, m.name, m.cmd.Process.Pid)
	}
	if err := c.start(m); err != nil {
		c.t.Fatalf("etcdkit: Restart(%d): %v", i, err)
	}
}

// StopAll ends every running member by its pid: SIGTERM, then SIGKILL
// for one still running 10 s later. Members can be restarted afterwards.
//
// One after another, each waited for: a leader that is stopped hands its
// leadership to a follower first, and when every member is stopped at
// once that hand-over waits for followers that are going away, 7 s (etcd's
// request timeout). In turn, each leader finds a live follower, and the
// last member has no peer to wait for.
func (c *Cluster) StopAll() {
	for _, m := range c.members {
		if !m.up {
			continue
		}
		_ = m.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-m.done:
		case <-time.After(10 * time.Second):
			_ = m.cmd.Process.Kill()
			<-m.done
		}
		m.up = false
	}
}

// Leftovers reports every living process whose command line names the
// cluster's directory (its members), by pid: empty after StopAll.
func (c *Cluster) Leftovers() map[int]string {
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cl, ok := c.running(pid); ok {
			out[pid] = cl
		}
	}
	return out
}

// Alive reports whether pid is a living process of this cluster. A pid
// reused by another program after the member ended does not count.
func (c *Cluster) Alive(pid int) bool {
	_, ok := c.running(pid)
	return ok
}

func (c *Cluster) running(pid int) (string, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", false
	}
	if i := bytes.LastIndexByte(stat, ')'); i < 0 || len(stat) < i+3 || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return "", false // a zombie has ended
	}
	cl, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cl, []byte(c.base)) {
		return "", false
	}
	return string(bytes.ReplaceAll(bytes.TrimRight(cl, "\x00"), []byte{0}, []byte{' '})), true
}

// cleanup stops everything; when the test failed it shows the end of
// each member's log, where etcd says why it would not serve.
func (c *Cluster) cleanup() {
	c.StopAll()
	if left := c.Leftovers(); len(left) > 0 {
		for pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		c.t.Errorf("etcdkit: etcd processes left after stopping, killed: %v", left)
	}
	if c.t.Failed() {
		for _, m := range c.members {
			c.t.Logf("etcdkit: end of %s:\n%s", m.logFile, tail(m.logFile, 15))
		}
	}
}

// tail reports the last n lines of a file.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
