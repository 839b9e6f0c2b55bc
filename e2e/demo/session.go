package main

// This file removes what the demo made and runs the interactive session.

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// cleanup removes everything the demo made, in reverse order, and says
// what in one line.
func (d *demo) cleanup() {
	var done []string
	var failed []string
	for i := len(d.undo) - 1; i >= 0; i-- {
		what, err := d.undo[i].fn()
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", what, err))
			continue
		}
		done = append(done, what)
	}
	d.undo = nil
	if len(done) > 0 {
		d.say("removed %s", strings.Join(done, ", "))
	}
	for _, f := range failed {
		fmt.Fprintf(os.Stderr, "demo: could not remove %s\n", f)
	}
}

// showLogs prints the end of the daemon's and sshd's logs (after a
// failure, before they are removed).
func (d *demo) showLogs() {
	for _, l := range []struct{ name, path string }{{"totpd", d.dLog}, {"sshd", d.sLog}} {
		if l.path == "" {
			continue
		}
		b, err := os.ReadFile(l.path)
		if err != nil || len(b) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 25 {
			lines = lines[len(lines)-25:]
		}
		fmt.Fprintf(os.Stderr, "demo: the end of %s's log:\n", l.name)
		for _, s := range lines {
			fmt.Fprintf(os.Stderr, "  | %s\n", d.redact(s))
		}
	}
}

// ---------------------------------------------------------------------
// With a person

// userEnv is the environment of totpctl run as the demo user.
func (d *demo) userEnv(lang, term string) []string {
	return []string{"PATH=/usr/bin:/bin", "LANG=" + lang, "TERM=" + term,
		"HOME=" + d.home, "USER=" + demoUser, "LOGNAME=" + demoUser}
}

// sshArgs is the OpenSSH client's command line; -F none keeps root's own
// ~/.ssh/config and /etc/ssh/ssh_config out of it.
func (d *demo) sshArgs(command ...string) []string {
	return append([]string{"-F", "none", "-p", strconv.Itoa(d.sshd.Port), "-i", d.key,
		"-o", "UserKnownHostsFile=" + d.known, "-o", "StrictHostKeyChecking=accept-new",
		"-o", "IdentitiesOnly=yes", demoUser + "@127.0.0.1"}, command...)
}

// foreground runs cmd in the person's terminal and reports its exit status.
func (d *demo) foreground(cmd *exec.Cmd) (int, error) {
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	d.mu.Lock()
	if err := d.ctx.Err(); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		d.mu.Unlock()
		return 0, err
	}
	d.fg = cmd.Process
	d.mu.Unlock()
	err := cmd.Wait()
	d.mu.Lock()
	d.fg = nil
	d.mu.Unlock()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		// Killed by the Ctrl-C (or SIGTERM, SIGHUP) that the demo may not
		// have seen yet: the demo ends as if it had.
		// (totpctl, reading a code, exits 128+N instead.)
		sig := syscall.Signal(ee.ExitCode() - 128)
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig = ws.Signal()
		}
		switch sig {
		case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP:
			d.cancel(signalled{sig})
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

func (d *demo) runInteractive() error {
	lang, term := os.Getenv("LANG"), os.Getenv("TERM")
	if lang == "" || lang == "C" || lang == "POSIX" {
		lang = "C.UTF-8"
	}
	if term == "" {
		term = "xterm"
	}
	fmt.Printf(`
Everything above lives in %s and is removed when the demo ends
(when you leave the SSH session, or press Ctrl-C at a prompt).

Step 1 of 2: enroll %s. Scan the QR code with an authenticator app
(Google Authenticator, Aegis, FreeOTP …) or type the key, then type the
code the app shows.

`, d.dir, demoUser)
	ctl := exec.Command(d.totpctl, "--socket", d.socket, "enroll")
	ctl.SysProcAttr = &syscall.SysProcAttr{Credential: d.cred}
	ctl.Env = d.userEnv(lang, term)
	ctl.Dir = d.home
	code, err := d.foreground(ctl)
	if err == nil {
		err = d.ctx.Err()
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return personal{fmt.Sprintf("the enrollment was not confirmed (totpctl exit status %d); run make demo again to retry", code)}
	}
	fmt.Printf(`
Step 2 of 2: ssh %s@127.0.0.1 -p %d. sshd takes the demo's key, then
asks for a verification code: type the next code the app shows (the one
you just typed is used up). Type exit to leave; the demo then cleans up.

`, demoUser, d.sshd.Port)
	cmd := exec.Command(d.tools["ssh"], d.sshArgs()...)
	code, err = d.foreground(cmd)
	if err == nil {
		err = d.ctx.Err()
	}
	if err != nil {
		return err
	}
	fmt.Println()
	d.say("ssh exited with status %d. You can delete the totpd-demo account from your app now.", code)
	return nil
}

// redact hides what must not be printed (the secret, the codes) in text
// the demo shows from captured output.
func (d *demo) redact(s string) string {
	for _, x := range secrets.list() {
		s = strings.ReplaceAll(s, x, "[hidden]")
	}
	return s
}

// secrets are the strings redact hides.
var secrets secretList

type secretList struct {
	mu sync.Mutex
	l  []string
}

func (s *secretList) add(x ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range x {
		if v != "" {
			s.l = append(s.l, v)
		}
	}
	sort.Slice(s.l, func(i, j int) bool { return len(s.l[i]) > len(s.l[j]) })
}

func (s *secretList) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.l...)
}

// lines reports the non-empty lines of terminal output, without \r.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(strings.ReplaceAll(sc.Text(), "\r", "")); l != "" {
			out = append(out, l)
		}
	}
	return out
}
