package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/totpd/totpd/e2e/hostkit"
)

// fakeUsers makes, in dir (which must hold nothing else), copies of
// /etc/passwd and /etc/group with n extra accounts bench00001… (uid = gid
// = base+i). Inside the daemon's private mount namespace dir is laid over
// /etc (a read-only overlay), so NSS in the daemon sees the accounts and
// the machine never does.
//
// Why an overlay on /etc rather than `mount --bind` over the two files:
// other work on this machine adds accounts while the bench runs, and
// useradd replaces /etc/passwd by rename; since Linux 3.18 replacing a
// file that is a mount point in another namespace detaches that mount,
// so the bench's accounts vanished under the daemon mid-run (every
// request then got "no such account"). A mount on the /etc directory
// itself is not affected.
func fakeUsers(dir string, n int) (passwd, group string, names []string, err error) {
	const base = 200000
	realP, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return "", "", nil, err
	}
	realG, err := os.ReadFile("/etc/group")
	if err != nil {
		return "", "", nil, err
	}
	for _, l := range strings.Split(string(realP), "\n") {
		f := strings.Split(l, ":")
		if len(f) < 3 {
			continue
		}
		if strings.HasPrefix(f[0], "bench") {
			return "", "", nil, fmt.Errorf("/etc/passwd already has an account %q; the bench's accounts would clash", f[0])
		}
		if id, err := strconv.Atoi(f[2]); err == nil && id > base && id <= base+n {
			return "", "", nil, fmt.Errorf("/etc/passwd already uses uid %d, in the bench's range %d-%d", id, base+1, base+n)
		}
	}
	var pb, gb strings.Builder
	pb.Write(realP)
	gb.Write(realG)
	if len(realP) > 0 && realP[len(realP)-1] != '\n' {
		pb.WriteByte('\n')
	}
	if len(realG) > 0 && realG[len(realG)-1] != '\n' {
		gb.WriteByte('\n')
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("bench%05d", i)
		names = append(names, name)
		fmt.Fprintf(&pb, "%s:x:%d:%d::/nonexistent:/usr/sbin/nologin\n", name, base+i, base+i)
		fmt.Fprintf(&gb, "%s:x:%d:\n", name, base+i)
	}
	if strings.ContainsAny(dir, ":,") {
		return "", "", nil, fmt.Errorf("%s: an overlay lowerdir cannot contain ':' or ','", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", nil, err
	}
	passwd, group = filepath.Join(dir, "passwd"), filepath.Join(dir, "group")
	if err := os.WriteFile(passwd, []byte(pb.String()), 0o644); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(group, []byte(gb.String()), 0o644); err != nil {
		return "", "", nil, err
	}
	return passwd, group, names, nil
}

// daemonProc is one totpd started in a private mount namespace
// (hostkit.Private: /etc overlaid, the hidden directories covered):
//
//	unshare --mount --propagation private -- sh -c 'mount -t overlay … /etc && … exec totpd --config CFG'
//
// unshare does not fork (no --fork), and sh execs totpd, so the pid of
// the unshare process is the pid of totpd once it runs.
type daemonProc struct {
	pid     int
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has been waited for
	waitErr error
	spawned time.Time // cmd.Start
	execAt  time.Time // sh about to exec totpd (mounts done)
	readyAt time.Time // READY=1 received
	stopped func()

	stopTook time.Duration // SIGTERM to exit
	killed   bool          // SIGTERM was not enough
}

// procSpec is how to start totpd.
type procSpec struct {
	totpd, config   string
	etcOverlay      string   // directory with passwd and group, laid over /etc
	hide            []string // directories to cover with an empty one (journal, nscd)
	emptyDir        string
	notify          *hostkit.NotifySocket
	log             *os.File
	readyTimeout    time.Duration
	stopGrace       time.Duration
	registerCleanup bool
}

// start runs totpd and waits for READY=1. On error the process is stopped.
func startDaemon(ctx context.Context, s procSpec) (*daemonProc, error) {
	var binds []hostkit.Bind
	for _, h := range s.hide {
		binds = append(binds, hostkit.Bind{Src: s.emptyDir, Dst: h})
	}
	// fd 3 is a pipe: a word on it marks the instant before exec, so the
	// start time below is totpd's own, not unshare's or mount's.
	argv, err := hostkit.Private{Etc: s.etcOverlay, Binds: binds, MarkFD3: true}.Argv(s.totpd, "--config", s.config)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8", "NOTIFY_SOCKET=" + s.notify.Path}
	cmd.Stdout, cmd.Stderr = s.log, s.log
	// Should the bench die without cleaning up (a panic, SIGKILL), the
	// daemon gets SIGTERM instead of living on.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer pr.Close()
	cmd.ExtraFiles = []*os.File{pw}
	ready, unsub := s.notify.Subscribe()
	defer unsub()

	p := &daemonProc{cmd: cmd, done: make(chan struct{})}
	p.spawned = time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return nil, fmt.Errorf("starting unshare: %w", err)
	}
	pw.Close()
	p.pid = cmd.Process.Pid
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	grace := s.stopGrace
	if grace == 0 {
		grace = 30 * time.Second
	}
	stop := func() { p.stop(grace) }
	if s.registerCleanup {
		p.stopped = cleanupOnExit(stop)
	} else {
		p.stopped = stop
	}

	marker := make(chan time.Time, 1)
	go func() {
		r := bufio.NewReader(pr)
		if l, err := r.ReadString('\n'); err == nil && strings.TrimSpace(l) == "exec" {
			marker <- time.Now()
		}
		close(marker)
	}()
	execSeen := (<-chan time.Time)(marker)
	timeout := time.NewTimer(s.readyTimeout)
	defer timeout.Stop()
	for p.readyAt.IsZero() {
		select {
		case t, ok := <-execSeen:
			if ok {
				p.execAt = t
			}
			execSeen = nil
		case m := <-ready:
			for _, l := range strings.Split(m.State, "\n") {
				if l == "READY=1" {
					p.readyAt = m.At
				}
			}
		case <-p.done:
			return nil, fmt.Errorf("totpd exited before READY=1 (%v); see %s", p.waitErr, s.log.Name())
		case <-timeout.C:
			p.stopped()
			return nil, fmt.Errorf("no READY=1 from totpd within %v; see %s", s.readyTimeout, s.log.Name())
		case <-ctx.Done():
			p.stopped()
			return nil, ctx.Err()
		}
	}
	if p.execAt.IsZero() && execSeen != nil { // READY before the marker was read
		if t, ok := <-execSeen; ok {
			p.execAt = t
		}
	}
	if p.execAt.IsZero() {
		p.execAt = p.spawned
	}
	return p, nil
}

// totpdPID reports the pid of the totpd process: the unshare pid itself
// (unshare and sh exec), or else a descendant named totpd (or, in fleet
// mode, totpd-fleet, which totpd execs).
func (p *daemonProc) totpdPID() (int, error) {
	var walk func(pid, depth int) int
	walk = func(pid, depth int) int {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if c := strings.TrimSpace(string(comm)); c == "totpd" || c == "totpd-fleet" {
			return pid
		}
		if depth > 3 {
			return 0
		}
		kids, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
		for _, k := range strings.Fields(string(kids)) {
			if c, err := strconv.Atoi(k); err == nil {
				if r := walk(c, depth+1); r != 0 {
					return r
				}
			}
		}
		return 0
	}
	if pid := walk(p.pid, 0); pid != 0 {
		return pid, nil
	}
	return 0, fmt.Errorf("no totpd process under pid %d", p.pid)
}

// memory reports VmRSS and VmHWM of the totpd process, in KiB.
func (p *daemonProc) memory() (rss, hwm int64, err error) {
	pid, err := p.totpdPID()
	if err != nil {
		return 0, 0, err
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n
		case "VmHWM":
			hwm = n
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, hwm, nil
}

// stop ends the process by its pid: SIGTERM, wait up to grace, SIGKILL.
// It records how long the exit took and whether SIGKILL was needed.
func (p *daemonProc) stop(grace time.Duration) {
	select {
	case <-p.done:
		return
	default:
	}
	t := time.Now()
	syscall.Kill(p.pid, syscall.SIGTERM)
	select {
	case <-p.done:
		p.stopTook = time.Since(t)
		return
	case <-time.After(grace):
	}
	fmt.Fprintf(os.Stderr, "bench: totpd (pid %d) did not stop within %v of SIGTERM; SIGKILL\n", p.pid, grace)
	p.killed = true
	syscall.Kill(p.pid, syscall.SIGKILL)
	<-p.done
	p.stopTook = time.Since(t)
}

// kill ends the process with SIGKILL at once (a crash) and waits for it.
func (p *daemonProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	syscall.Kill(p.pid, syscall.SIGKILL)
	<-p.done
}

// exitedCleanly reports whether the last stop ended the process with status 0.
func (p *daemonProc) exitedCleanly() error {
	<-p.done
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return fmt.Errorf("totpd exited with %v", ee)
	}
	return p.waitErr
}
