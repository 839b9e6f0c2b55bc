package main

// Real accounts, a real totpd, PAM services of the bench's own and sshd
// run under its own service name, for the pam and ssh sections. Nothing
// of the machine's login configuration is touched: the PAM services are
// /etc/pam.d/totpd-bench-*, sshd runs through a symlink (OpenSSH names
// its PAM service after argv[0]) with its own config, host key and
// loopback port; all of it, and the tbench* accounts, go at the end.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/proctree"
	"github.com/totpd/totpd/e2e/testutils"
	"github.com/totpd/totpd/totp"
)

const hostUsers = 200 // up to three fresh codes each per TOTP step for ours

type hostUser struct {
	name  string
	ours  benchUser
	gaSec []byte // the anchors' secret: GA's secret files and pam_oath's usersfile
}

func (u hostUser) gaCode(now time.Time) string {
	c, _ := totp.DefaultParams().Code(u.gaSec, now)
	return c
}

// anchorWrongCode reports a well-formed code that is none of the
// anchors' codes of the steps around now (GA's default window is three
// steps, pam_oath's window=1 the same).
func (u hostUser) anchorWrongCode(now time.Time) string {
	p := totp.DefaultParams()
	near := map[string]bool{}
	for _, d := range []time.Duration{-p.Period, 0, p.Period} {
		c, _ := p.Code(u.gaSec, now.Add(d))
		near[c] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", i); !near[c] {
			return c
		}
	}
}

type hostBench struct {
	b      *Bench
	dir    string
	module string
	socket string
	gaDir  string // GA's secret files, TOTP_AUTH (the ssh rows)
	// GA's secret files with DISALLOW_REUSE (the pam rows): ours always
	// refuses a replay, so the anchor does too.
	gaReuseDir string
	oathFile   string // pam_oath's usersfile; "" when pam_oath is not installed
	users      []hostUser
	alloc      *codeAlloc
}

// pamModuleDir reports the directory holding the PAM module file name, or "".
func pamModuleDir(name string) string {
	dir := ""
	for _, p := range []string{"/lib/x86_64-linux-gnu/security", "/usr/lib/x86_64-linux-gnu/security", "/lib/security", "/usr/lib/security", "/lib64/security"} {
		if _, err := os.Stat(filepath.Join(p, name)); err == nil {
			dir = p
		}
	}
	return dir
}

var (
	hostOnce sync.Once
	hostVal  *hostBench
	hostWhy  string
)

// hostFor sets up (once per run) what the pam and ssh sections share, or
// reports why it cannot ("" when it could).
func hostFor(b *Bench) (*hostBench, string) {
	hostOnce.Do(func() {
		h, err := setupHost(b)
		if err != nil {
			hostWhy = "not measured: " + err.Error()
			return
		}
		hostVal = h
	})
	return hostVal, hostWhy
}

func setupHost(b *Bench) (*hostBench, error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("needs root (accounts, /etc/pam.d, sshd)")
	}
	for _, t := range []string{"pamtester", "useradd", "userdel", "/usr/sbin/sshd", "ssh-keygen", "unshare"} {
		if _, err := exec.LookPath(t); err != nil {
			return nil, fmt.Errorf("%s not installed", t)
		}
	}
	if pamModuleDir("pam_google_authenticator.so") == "" {
		return nil, errors.New("pam_google_authenticator.so not installed (libpam-google-authenticator)")
	}
	h := &hostBench{b: b, dir: filepath.Join(b.WorkDir, "host"), module: filepath.Join(b.BuildDir, "pam_totpd.so")}
	for _, f := range []string{h.module, filepath.Join(b.BuildDir, "pam_totpd_go.so"), filepath.Join(b.BuildDir, "totpd")} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("%v (make build)", err)
		}
	}
	h.gaDir = filepath.Join(h.dir, "ga")
	h.gaReuseDir = filepath.Join(h.dir, "ga-reuse")
	for _, d := range []string{h.gaDir, h.gaReuseDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	os.Chmod(h.dir, 0o755)
	// pam_oath writes the usersfile (the last code used) through
	// FILE.new and FILE.lock beside it: a directory and a file of root's.
	var oathUsers strings.Builder
	if pamModuleDir("pam_oath.so") != "" {
		if err := os.MkdirAll(filepath.Join(h.dir, "oath"), 0o700); err != nil {
			return nil, err
		}
		h.oathFile = filepath.Join(h.dir, "oath", "users.oath")
	}

	// Accounts first: the daemon's view of /etc is a copy taken at its start.
	b.Progressf("creating %d accounts tbench000…", hostUsers)
	var names []string
	for i := range hostUsers {
		name := fmt.Sprintf("tbench%03d", i)
		if _, err := user.Lookup(name); err == nil {
			return nil, fmt.Errorf("account %s exists already (left from an earlier run? userdel -r it)", name)
		}
		if err := testutils.RunAccountTool("", "useradd", "-m", "-s", "/bin/sh", name); err != nil {
			return nil, err
		}
		n := name
		cleanupOnExit(func() {
			if err := testutils.RunAccountTool("", "userdel", "-r", n); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			}
		})
		names = append(names, name)
	}

	nb := *b
	nb.Users, nb.WorkDir = 1, h.dir
	d, err := newDaemonEnv(&nb, filepath.Join(b.BuildDir, "totpd"))
	if err != nil {
		return nil, err
	}
	cleanupOnExit(d.close)
	if d.proc, err = d.start(b.Ctx); err != nil {
		return nil, err
	}
	h.socket = d.socket
	for _, name := range names {
		u, err := d.enroll(b.Ctx, name)
		if err != nil {
			return nil, err
		}
		sec, err := totp.GenerateSecret(20)
		if err != nil {
			return nil, err
		}
		// google-authenticator's format: the secret, then option lines.
		text := totp.EncodeSecret(sec) + "\n\" TOTP_AUTH\n"
		if err := os.WriteFile(filepath.Join(h.gaDir, name), []byte(text), 0o400); err != nil {
			return nil, err
		}
		text += "\" DISALLOW_REUSE\n"
		if err := os.WriteFile(filepath.Join(h.gaReuseDir, name), []byte(text), 0o400); err != nil {
			return nil, err
		}
		// pam_oath's: TOTP of 30 s steps and 6 digits, user, no PIN, hex secret.
		fmt.Fprintf(&oathUsers, "HOTP/T30/6 %s - %x\n", name, sec)
		h.users = append(h.users, hostUser{name: name, ours: u, gaSec: sec})
	}
	if h.oathFile != "" {
		if err := os.WriteFile(h.oathFile, []byte(oathUsers.String()), 0o600); err != nil {
			return nil, err
		}
	}
	h.alloc = &codeAlloc{users: h.users, last: make([]int64, len(h.users))}
	for i := range h.alloc.last {
		h.alloc.last[i] = -1
	}
	return h, nil
}

func (h *hostBench) oursAuth() string {
	return fmt.Sprintf("auth required %s socket=%s timeout=5\n", h.module, h.socket)
}

func (h *hostBench) gaAuth() string {
	return fmt.Sprintf("auth required pam_google_authenticator.so secret=%s/${USER} user=root\n", h.gaDir)
}

// gaReuseAuth is GA with DISALLOW_REUSE in its secret files.
func (h *hostBench) gaReuseAuth() string {
	return fmt.Sprintf("auth required pam_google_authenticator.so secret=%s/${USER} user=root\n", h.gaReuseDir)
}

func (h *hostBench) oathAuth() string {
	return fmt.Sprintf("auth required pam_oath.so usersfile=%s window=1 digits=6\n", h.oathFile)
}

// service writes /etc/pam.d/totpd-bench-KIND-RANDOM (removed at the end)
// and reports its name.
func (h *hostBench) service(kind, text string) (string, error) {
	name := hostkit.ServiceName("totpd-bench-" + kind)
	p, err := hostkit.WritePAMService(name, "# totpd bench, removed at its end\n"+text)
	if err != nil {
		return "", err
	}
	cleanupOnExit(func() { os.Remove(p) })
	return name, nil
}

// pamtester runs one whole authentication and reports its wall time.
func (h *hostBench) pamtester(service, user, code string) (time.Duration, error) {
	d, out, err := runPamtester(service, user, code)
	if err == nil && !strings.Contains(out, "successfully authenticated") {
		err = errors.New("no success reported")
	}
	if err != nil {
		err = fmt.Errorf("%v: %s", err, strings.TrimSpace(out))
	}
	return d, err
}

// pamtesterFails runs one whole authentication that must fail with the
// PAM error message want, and reports its wall time.
func (h *hostBench) pamtesterFails(service, user, code, want string) (time.Duration, error) {
	d, out, err := runPamtester(service, user, code)
	switch {
	case err == nil:
		err = fmt.Errorf("succeeded, want %q: %s", want, strings.TrimSpace(out))
	case !strings.Contains(out, want):
		err = fmt.Errorf("%v: %s; want %q", err, strings.TrimSpace(out), want)
	default:
		err = nil
	}
	return d, err
}

func runPamtester(service, user, code string) (time.Duration, string, error) {
	cmd := exec.Command("pamtester", service, user, "authenticate")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	cmd.Stdin = strings.NewReader(code + "\n")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	t := time.Now()
	err := cmd.Run()
	return time.Since(t), out.String(), err
}

// codeAlloc hands out (user, fresh code) for ours: a user's code is
// accepted once per step, so each user gives, in order, the codes of the
// previous step (while at least 8 s of the current one are left: the
// daemon's window of 1 still takes it), the current and the next one,
// never two in flight (round robin over many users); when all are used
// it waits for the next step, and counts the wait.
type codeAlloc struct {
	mu     sync.Mutex
	users  []hostUser
	last   []int64
	next   int
	waited time.Duration
}

func (a *codeAlloc) first(now time.Time) (cur, lo int64) {
	p := a.users[0].ours.params
	cur = p.Step(now)
	lo = cur
	if p.StepTime(cur+1).Sub(now) >= 8*time.Second {
		lo = cur - 1
	}
	return cur, lo
}

// capacity reports how many codes can be had now without waiting.
func (a *codeAlloc) capacity() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur, lo := a.first(time.Now())
	n := 0
	for _, l := range a.last {
		n += int(max(0, cur+2-max(l+1, lo)))
	}
	return n
}

// reserve waits (untimed) until n codes can be had without waiting.
func (a *codeAlloc) reserve(ctx context.Context, n int) error {
	for a.capacity() < n {
		p := a.users[0].ours.params
		select {
		case <-time.After(time.Until(p.StepTime(p.Step(time.Now()) + 1).Add(20 * time.Millisecond))):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (a *codeAlloc) take(ctx context.Context) (int, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for {
		p := a.users[0].ours.params
		cur, lo := a.first(time.Now())
		for k := range a.users {
			i := (a.next + k) % len(a.users)
			st := max(a.last[i]+1, lo)
			if st <= cur+1 {
				a.last[i] = st
				a.next = i + 1
				c, err := p.CodeAt(a.users[i].ours.secret, st)
				return i, c, err
			}
		}
		t := time.Now()
		select {
		case <-time.After(time.Until(p.StepTime(cur + 1).Add(20 * time.Millisecond))):
			a.waited += time.Since(t)
		case <-ctx.Done():
			return 0, "", ctx.Err()
		}
	}
}

func (a *codeAlloc) waitedSoFar() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.waited
}

// ---------------------------------------------------------------------
// sshd

type sshdProc struct {
	addr    string
	hostKey ssh.PublicKey
	sshd    *hostkit.SSHD
	logs    *testutils.LockedBuffer
}

// sshdOverrides come before hostkit's sshd_config, whose other lines
// (loopback, no pid file, PAM, MaxStartups 200 …) the bench takes as they
// are: sshd keeps the first value of a keyword, so these win.
var sshdOverrides = []string{
	"KbdInteractiveAuthentication yes",
	"PasswordAuthentication no",
	"PubkeyAuthentication no",
	"AuthenticationMethods keyboard-interactive",
	"LogLevel ERROR",
	"MaxSessions 20",
}

// contribSession is the account and session part of contrib's sshd stacks.
func (h *hostBench) contribSession() string {
	b, err := os.ReadFile(filepath.Join(h.b.RepoDir, "contrib", "pam.d", "sshd-key-and-code"))
	if err != nil {
		return "account required pam_permit.so\nsession required pam_permit.so\n"
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && (f[0] == "account" || f[0] == "session" || f[0] == "@include" && len(f) > 1 && f[1] != "common-password") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// startSSHD starts sshd (hostkit.StartSSHD: a symlink named after its
// PAM service, its own host key and loopback port) with auth and the
// contrib session part as its PAM service.
func (h *hostBench) startSSHD(kind, auth string) (*sshdProc, error) {
	service, err := h.service(kind, auth+h.contribSession())
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(h.dir, kind)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s := &sshdProc{logs: &testutils.LockedBuffer{Limit: 1 << 20}}
	s.sshd, err = hostkit.StartSSHD(hostkit.SSHDOptions{
		Dir:       dir,
		Service:   service,
		Overrides: sshdOverrides,
		Comment:   "totpd bench, PAM service " + service,
		Env:       []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"},
		Output:    s.logs,
		// Should the bench die without cleaning up, sshd goes too.
		SysProcAttr: &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM},
	})
	if err != nil {
		return nil, fmt.Errorf("%w; sshd's log: %s", err, s.logs.String())
	}
	cleanupOnExit(s.stop)
	s.addr = s.sshd.Addr
	if s.hostKey, err = s.sshd.HostPublicKey(); err != nil {
		return nil, err
	}
	return s, nil
}

// login connects as user, answers every keyboard-interactive question
// with code, runs `true` in a session and closes.
func (s *sshdProc) login(user, code string) error {
	conn, err := net.DialTimeout("tcp", s.addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	kbd := ssh.KeyboardInteractive(func(name, instr string, qs []string, echos []bool) ([]string, error) {
		a := make([]string, len(qs))
		for i := range a {
			a[i] = code
		}
		return a, nil
	})
	cc, chans, reqs, err := ssh.NewClientConn(conn, s.addr, &ssh.ClientConfig{
		User: user, Auth: []ssh.AuthMethod{kbd}, HostKeyCallback: ssh.FixedHostKey(s.hostKey),
	})
	if err != nil {
		return fmt.Errorf("%s: %w", user, err)
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Errorf("%s: session: %w", user, err)
	}
	defer sess.Close()
	if err := sess.Run("true"); err != nil {
		return fmt.Errorf("%s: true: %w", user, err)
	}
	return nil
}

// leftover waits up to 10 s for every connection's sshd to end and
// reports how many are still there.
func (s *sshdProc) leftover() int { return len(proctree.WaitGone(s.sshd.Pid(), 10*time.Second)) }

// stop ends sshd by its pid (SIGTERM, then SIGKILL after 10 s) and
// whatever of its own processes it left.
func (s *sshdProc) stop() { s.sshd.Stop(10 * time.Second) }
