package main

// This file makes what the demo needs: daemon, user, keys, PAM service, sshd.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/proctree"
)

// setup makes everything, registering each thing's removal as soon as it
// exists.
func (d *demo) setup() error {
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return err
	}
	d.dir = dir
	d.suffix = strings.TrimPrefix(filepath.Base(dir), dirPrefix)
	d.onExit(func() (string, error) { return dir, os.RemoveAll(dir) })
	// Every user traverses it: the demo user reaches the socket (and
	// totpctl, when copied here) and has its home here. What is secret
	// is in subdirectories of mode 0700, or in files of mode 0600.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	if err := d.notePid("demo", os.Getpid()); err != nil {
		return err
	}
	for _, step := range []func() error{d.startDaemon, d.makeUser, d.makeKeys, d.startSSHD} {
		if err := d.ctx.Err(); err != nil {
			return err
		}
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// onExit registers a removal; they run in reverse order.
func (d *demo) onExit(fn func() (string, error)) { d.undo = append(d.undo, undoStep{fn}) }

// notePid records in the directory what runs from it, for tidy.
func (d *demo) notePid(what string, pid int) error {
	f, err := os.OpenFile(filepath.Join(d.dir, pidsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %d\n", what, pid)
	return errors.Join(err, f.Close())
}

// private makes a 0700 subdirectory of the demo's directory.
func (d *demo) private(name string) (string, error) {
	p := filepath.Join(d.dir, name)
	if err := os.Mkdir(p, 0o700); err != nil {
		return "", err
	}
	return p, os.Chmod(p, 0o700)
}

// startDaemon starts build/totpd with a configuration of the demo's own
// and waits until its socket accepts.
func (d *demo) startDaemon() error {
	priv, err := d.private("daemon")
	if err != nil {
		return err
	}
	d.socket = filepath.Join(d.dir, "totpd.sock")
	cfg := filepath.Join(priv, "totpd.toml")
	text := fmt.Sprintf(`# totpd of make demo (e2e/demo): every file in %s, removed at the end.
socket          = %q
state_dir       = %q
master_key_file = %q
admin_group     = ""
issuer          = "totpd-demo"
`, d.dir, d.socket, filepath.Join(priv, "state"), filepath.Join(priv, "master.key"))
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		return err
	}
	d.dLog = filepath.Join(priv, "totpd.log")
	logf, err := os.OpenFile(d.dLog, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(d.build, "totpd"), "--config", cfg)
	cmd.Env = sysEnv
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	// Its own process group (a Ctrl-C in the terminal is the demo's to
	// handle), and it ends if the demo is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return err
	}
	d.daemon, d.dDone = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(d.dDone) }()
	d.onExit(d.stopDaemon)
	if err := d.notePid("totpd", cmd.Process.Pid); err != nil {
		return err
	}
	if err := hostkit.WaitUnixSocket(d.ctx, d.socket, 15*time.Second, d.dDone); errors.Is(err, hostkit.ErrExited) {
		return fmt.Errorf("totpd exited before serving (%v)", cmd.ProcessState)
	} else if err != nil {
		return err
	}
	d.say("totpd (pid %d) answers on %s; its state and key are in %s", cmd.Process.Pid, d.socket, priv)
	return nil
}

// stopDaemon stops totpd: SIGTERM, SIGKILL after 5 s.
func (d *demo) stopDaemon() (string, error) {
	what := fmt.Sprintf("totpd (pid %d)", d.daemon.Process.Pid)
	_ = d.daemon.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.dDone:
	case <-time.After(5 * time.Second):
		_ = d.daemon.Process.Kill()
		<-d.dDone
		what += " killed after 5s"
	}
	return what, nil
}

// makeUser creates the demo user with its home in the directory.
func (d *demo) makeUser() error {
	d.home = filepath.Join(d.dir, "home")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // not d.ctx: never killed half-way
	defer cancel()
	cmd := exec.CommandContext(ctx, d.tools["useradd"], "-m", "-d", d.home, "-s", "/bin/bash",
		"-c", "totpd make demo, removed when it ends", demoUser)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a Ctrl-C in the terminal must not stop it half-way
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("useradd %s: %v: %s", demoUser, err, strings.TrimSpace(string(out)))
	}
	d.onExit(func() (string, error) {
		if d.account != nil {
			uid, _ := strconv.Atoi(d.account.Uid)
			killUser(uid)
		}
		return "user " + demoUser + " with its home", d.userdel()
	})
	u, err := user.Lookup(demoUser)
	if err != nil {
		return err
	}
	d.account = u
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	d.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil {
				d.cred.Groups = append(d.cred.Groups, uint32(n))
			}
		}
	}
	d.totpctl = filepath.Join(d.build, "totpctl")
	if !othersCanRun(d.totpctl) {
		// The source tree is somewhere the demo user cannot reach (a home
		// of mode 0700, say): run a copy of the same binary.
		bin := filepath.Join(d.dir, "bin")
		if err := os.Mkdir(bin, 0o755); err != nil {
			return err
		}
		if err := copyFile(d.totpctl, filepath.Join(bin, "totpctl"), 0o755); err != nil {
			return err
		}
		d.totpctl = filepath.Join(bin, "totpctl")
		d.say("%s cannot reach %s/totpctl: runs a copy, %s", demoUser, d.build, d.totpctl)
	}
	d.say("user %s (uid %s) created, home %s", demoUser, u.Uid, d.home)
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		return err
	}
	return os.Chmod(dst, mode)
}

// makeKeys makes the client's key pair and authorizes its public key for
// the demo user, with the ownership and modes sshd's StrictModes wants.
func (d *demo) makeKeys() error {
	d.key = filepath.Join(d.dir, "id_ed25519")
	d.known = filepath.Join(d.dir, "known_hosts")
	out, err := exec.CommandContext(d.ctx, d.tools["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-C", "totpd-demo client", "-f", d.key).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(d.key + ".pub")
	if err != nil {
		return err
	}
	sshDir := filepath.Join(d.home, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return err
	}
	ak := filepath.Join(sshDir, "authorized_keys")
	if err := os.WriteFile(ak, pub, 0o600); err != nil {
		return err
	}
	for _, p := range []string{sshDir, ak} {
		if err := os.Chown(p, int(d.cred.Uid), int(d.cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// startSSHD writes the PAM service and starts sshd through the symlink
// named after it.
func (d *demo) startSSHD() error {
	service := servicePrefix + d.suffix
	text, err := os.ReadFile(filepath.Join(d.repo, "contrib", stackFile))
	if err != nil {
		return err
	}
	stack, err := hostkit.AdaptStack(string(text), filepath.Join(d.build, "pam_totpd.so"), d.socket, pamTimeout)
	if err != nil {
		return err
	}
	pamFile, err := hostkit.WritePAMService(service, stack)
	if err != nil {
		return err
	}
	d.onExit(func() (string, error) { return pamFile, os.Remove(pamFile) })

	dir, err := d.private("sshd")
	if err != nil {
		return err
	}
	d.sLog = filepath.Join(dir, "sshd.log")
	logf, err := os.OpenFile(d.sLog, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s, err := hostkit.StartSSHD(hostkit.SSHDOptions{
		Dir:         dir,
		Service:     service,
		DropIn:      filepath.Join(d.repo, "contrib", dropInFile),
		Comment:     "sshd of make demo (e2e/demo), PAM service " + service + "; removed at the end",
		Env:         sysEnv,
		Output:      logf,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM},
	})
	if err != nil {
		return err
	}
	d.sshd = s
	d.onExit(d.stopSSHD)
	if err := d.notePid("sshd", s.Pid()); err != nil {
		return err
	}
	d.say("PAM service %s: contrib/%s with pam_totpd.so → %s/pam_totpd.so socket=%s timeout=%d",
		pamFile, stackFile, d.build, d.socket, pamTimeout)
	d.say("sshd (pid %d) on %s, run as %s, with contrib/%s", s.Pid(), s.Addr, s.Link, dropInFile)
	return nil
}

// stopSSHD gives the sessions a second to end by themselves (ssh has
// gone), ends those left (SIGTERM, so that they log out properly; SIGKILL
// after 2 s), then sshd itself.
func (d *demo) stopSSHD() (string, error) {
	kids := proctree.WaitGone(d.sshd.Pid(), time.Second)
	n := len(kids)
	for p := range kids {
		_ = syscall.Kill(p, syscall.SIGTERM)
	}
	proctree.WaitGone(d.sshd.Pid(), 2*time.Second)
	left, killed := d.sshd.Stop(3 * time.Second)
	what := fmt.Sprintf("sshd (pid %d", d.sshd.Pid())
	if n > 0 {
		what += fmt.Sprintf(", and %d session processes", n)
	}
	if len(left) > 0 {
		what += fmt.Sprintf(", %d of them killed", len(left))
	}
	if killed {
		what += ", killed after 3s"
	}
	return what + ")", nil
}

// ---------------------------------------------------------------------
// The end
