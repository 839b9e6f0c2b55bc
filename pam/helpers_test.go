package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/totpd/totpd/e2e/testutils"
)

// The host tests run real PAM applications against the module as built
// by build.sh. They need root (PAM service files live in /etc/pam.d) and
// pamtester, gcc and the libpam headers. Missing any of these fails the
// test as root or in CI, and skips it otherwise.
func requireHostTests(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, prog := range []string{"pamtester", "gcc"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing = append(missing, prog+" (Debian: apt install "+prog+")")
		}
	}
	if _, err := os.Stat("/usr/include/security/pam_appl.h"); err != nil {
		missing = append(missing, "the libpam headers (Debian: apt install libpam0g-dev)")
	}
	if len(missing) == 0 {
		return
	}
	testutils.Unmet(t, "PAM host tests need %s", strings.Join(missing, ", "))
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// TestMain removes what the host tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// moduleDir builds the module once per test run with build.sh and reports
// the directory holding pam_totpd.so and pam_totpd_go.so. MkdirTemp makes
// it 0700 and root's, which the loader demands of it when run by root.
func moduleDir(t *testing.T) string {
	t.Helper()
	requireHostTests(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "totpd-pam-build")
		if buildErr != nil {
			return
		}
		var out []byte
		out, buildErr = exec.Command("./build.sh", buildDir).CombinedOutput()
		if buildErr != nil {
			buildErr = fmt.Errorf("build.sh: %v\n%s", buildErr, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildDir
}

// compileC builds a test program or library from testdata into dir.
func compileC(t *testing.T, dir, out, src string, args ...string) string {
	t.Helper()
	path := filepath.Join(dir, out)
	cmd := exec.Command("gcc", append([]string{"-O2", "-Wall", "-Wextra", "-Werror", "-o", path, filepath.Join("testdata", src)}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("compiling %s: %v\n%s", src, err, b)
	}
	return path
}

// pamService writes /etc/pam.d/totpd-test-RANDOM with lines and reports
// its name; it is removed when the test ends. Only files of that name
// are ever written: the machine's own stacks are never touched.
func pamService(t *testing.T, lines ...string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "totpd-test-" + hex.EncodeToString(b[:])
	path := filepath.Join("/etc/pam.d", name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(path) })
	return name
}

// moduleLine is a stack line for the module as built, talking to socket.
func moduleLine(control, dir, socket string, args ...string) string {
	return strings.Join(append([]string{"auth", control, filepath.Join(dir, "pam_totpd.so"), "socket=" + socket, "timeout=2"}, args...), " ")
}

type run struct {
	stdout, stderr string
	code           int
	elapsed        time.Duration
}

func (r run) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout:\n%s\nstderr:\n%s", r.code, r.elapsed, r.stdout, r.stderr)
}

// runCmd runs a program with stdin and a generous bound, for hangs to fail rather than stall.
func runCmd(t *testing.T, stdin string, env []string, name string, args ...string) run {
	t.Helper()
	return runCmdOut(t, false, stdin, env, name, args...)
}

// runCmdOut is runCmd, with stderr into stdout if combined.
func runCmdOut(t *testing.T, combined bool, stdin string, env []string, name string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if combined {
		cmd.Stderr = &stdout // one pipe, so the order of the two shows
	}
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start)}
	if ctx.Err() != nil {
		t.Fatalf("%s did not finish in 30s\n%s", name, r)
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running %s: %v", name, err)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// syslogCapture collects what is logged to /dev/log while the test runs,
// by listening there when no syslog daemon does (as in containers). It
// reports nil when /dev/log is taken: then there is nothing to check.
func syslogCapture(t *testing.T) func(want string) string {
	t.Helper()
	ln, err := net.ListenPacket("unixgram", "/dev/log")
	if err != nil {
		t.Logf("not checking syslog: %v", err)
		return nil
	}
	var mu sync.Mutex
	var buf strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		p := make([]byte, 8192)
		for {
			n, _, err := ln.ReadFrom(p)
			if err != nil {
				return
			}
			mu.Lock()
			buf.Write(p[:n])
			buf.WriteByte('\n')
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		os.Remove("/dev/log")
	})
	// The returned function waits, with a deadline, until what was logged
	// contains want (datagrams reach the reader goroutine a little after
	// pamtester has sent them), then reports it all.
	return func(want string) string {
		var got string
		deadline := time.Now().Add(5 * time.Second)
		for {
			mu.Lock()
			got = buf.String()
			mu.Unlock()
			if strings.Contains(got, want) || time.Now().After(deadline) {
				return got
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
