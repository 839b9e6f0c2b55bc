package main

// This file keeps one demo at a time and removes what a killed demo left.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/totpd/totpd/e2e/proctree"
)

// takeLock makes sure this is the only demo running; release removes the lock.
func takeLock() (release func(), err error) {
	if err := os.MkdirAll(filepath.Dir(lockFile), 0o755); err != nil {
		return nil, err
	}
	for {
		f, err := os.OpenFile(lockFile, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			b, _ := io.ReadAll(io.LimitReader(f, 32))
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("another demo is running (pid %s; lock %s): one at a time, since both would use the user %s", strings.TrimSpace(string(b)), lockFile, demoUser)
			}
			return nil, fmt.Errorf("locking %s: %w", lockFile, err)
		}
		// The file may have been removed by the demo that held it just
		// before we locked it: lock the one that is there.
		var a, b syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &a) == nil && syscall.Stat(lockFile, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
			_ = f.Truncate(0)
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			return func() { os.Remove(lockFile); f.Close() }, nil
		}
		f.Close()
	}
}

// ---------------------------------------------------------------------
// Leftovers of a demo that was killed

// tidy removes what a demo that could not clean up left (we hold the
// lock, so no demo is running), and refuses to go on if a user totpd-demo
// exists that is not the demo's.
func (d *demo) tidy() error {
	var removed []string
	if u, err := user.Lookup(demoUser); err == nil {
		pattern := filepath.Join(os.TempDir(), dirPrefix+"*", "home")
		if ok, _ := filepath.Match(pattern, u.HomeDir); !ok {
			return fmt.Errorf("a user %s exists and is not the demo's (its home is %s, not %s): the demo leaves it alone; remove it yourself (userdel -r %s) to run the demo", demoUser, u.HomeDir, pattern, demoUser)
		}
		uid, _ := strconv.Atoi(u.Uid)
		killUser(uid)
		if err := d.userdel(); err != nil {
			return err
		}
		removed = append(removed, "user "+demoUser+" (home "+u.HomeDir+")")
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() || fi.Sys().(*syscall.Stat_t).Uid != 0 {
			continue // not one of ours: the demo's are root's
		}
		b, err := os.ReadFile(filepath.Join(dir, pidsFile))
		if err != nil {
			continue // not one of ours
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) != 2 {
				continue
			}
			pid, _ := strconv.Atoi(f[1])
			cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			if pid > 1 && strings.Contains(string(cl), dir+"/") {
				for p := range proctree.Descendants(pid) {
					_ = syscall.Kill(p, syscall.SIGKILL)
				}
				_ = syscall.Kill(pid, syscall.SIGKILL)
				removed = append(removed, fmt.Sprintf("%s (pid %d)", f[0], pid))
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			return err
		}
		removed = append(removed, dir)
	}
	files, _ := filepath.Glob(filepath.Join("/etc/pam.d", servicePrefix+"*"))
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			return err
		}
		removed = append(removed, f)
	}
	if len(removed) > 0 {
		d.say("removed what an earlier demo left: %s", strings.Join(removed, ", "))
	}
	return nil
}

// killUser ends every process of uid (the demo user's, as the session's
// shell may leave some behind), by pid: SIGTERM, then SIGKILL.
func killUser(uid int) {
	procs := userProcs(uid)
	for _, p := range procs {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	deadline := time.Now().Add(2 * time.Second)
	for len(procs) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		procs = userProcs(uid)
	}
	for _, p := range procs {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
}

// userProcs reports the living processes whose real or effective uid is uid.
func userProcs(uid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "State:") && (strings.Contains(l, "zombie") || strings.Contains(l, "dead")) {
				break
			}
			if f := strings.Fields(l); len(f) >= 3 && f[0] == "Uid:" {
				if f[1] == strconv.Itoa(uid) || f[2] == strconv.Itoa(uid) {
					out = append(out, pid)
				}
				break
			}
		}
	}
	return out
}

// userdel removes the demo user with its home.
func (d *demo) userdel() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.tools["userdel"], "-r", demoUser)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C in the terminal must not stop it half-way
	out, err := cmd.CombinedOutput()
	if err != nil && !strings.Contains(string(out), "mail spool") {
		return fmt.Errorf("userdel -r %s: %v: %s", demoUser, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// ---------------------------------------------------------------------
// Setting up
