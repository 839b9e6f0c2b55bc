package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire/wiretest"
	"github.com/totpd/totpd/e2e/testutils"
)

// fakeServer is e2e/testdata/fakeserver running as a user that is not
// root: a daemon that says yes to everything.
type fakeServer struct {
	Socket string
	got    *testutils.LockedBuffer // its stdout after "ready": "got OP" a request
}

// Requests reports the ops that reached the fake server.
func (f *fakeServer) Requests() []string {
	var ops []string
	for _, l := range strings.Split(f.got.String(), "\n") {
		if op, ok := strings.CutPrefix(l, "got "); ok {
			ops = append(ops, op)
		}
	}
	return ops
}

// startFakeServer runs the fake server as a, on a socket in a directory
// of a's own, and waits until it listens.
func startFakeServer(t *testing.T, b binaries, a account) *fakeServer {
	t.Helper()
	dir, err := os.MkdirTemp("", "te2e-fake-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	require.NoError(t, os.Chown(dir, int(a.UID), int(a.GID)))
	f := &fakeServer{Socket: filepath.Join(dir, "totpd.sock"), got: &testutils.LockedBuffer{}}

	cmd := exec.Command(b.FakeServer, f.Socket)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: a.credential()}
	cmd.Env = []string{"PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	var stderr testutils.LockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ready <- sc.Scan() && sc.Text() == "ready"
		for sc.Scan() {
			fmt.Fprintln(f.got, sc.Text())
		}
	}()
	select {
	case ok := <-ready:
		require.True(t, ok, "fakeserver did not start: %s", stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("fakeserver did not listen within 10s: %s", stderr.String())
	}
	return f
}

// TestCtlRefusesNonRootServer: a daemon run by another uid than root,
// one that would say yes to everything, gets nothing from totpctl (not
// even a code) and totpctl exits 3 with what it found and what it means,
// whether it runs as root or as a user.
func TestCtlRefusesNonRootServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	mallory, u := newUser(t), newUser(t)
	f := startFakeServer(t, b, mallory)
	want := fmt.Sprintf("totpctl: the socket at %s is served by uid %d, not root: refusing to talk to it.", f.Socket, mallory.UID)

	for _, c := range []struct {
		as    *account
		stdin string
		args  []string
	}{
		{nil, "", []string{"status"}},
		{nil, "", []string{"users", "--json"}},
		{nil, "123456\n", []string{"user", "check", u.Name}},
		{&u, "", []string{"status"}},
		{&u, "123456\n", []string{"disable"}},
		{&mallory, "", []string{"status"}},
	} {
		r := runCtl(t, b, f.Socket, c.as, c.stdin, c.args...)
		require.Equal(t, 3, r.Code, "totpctl %v as %v: %s", c.args, c.as, r)
		require.True(t, strings.HasPrefix(r.Stderr, want), "totpctl %v: %s", c.args, r)
		require.Contains(t, r.Stderr, "either a misconfiguration")
		require.Contains(t, r.Stderr, "or an attack")
		require.Equal(t, 1, strings.Count(r.Stderr, "\n"), "one line: %s", r)
		require.NotContains(t, r.Stdout+r.Stderr, "123456")
	}
	require.Empty(t, f.Requests(), "a server that is not root got requests")
}

// TestHostPamtesterRefusesNonRootServer: the module, given a socket
// served by another uid than root, fails the login with
// PAM_AUTHINFO_UNAVAIL though that server would say yes, and sends it
// nothing.
func TestHostPamtesterRefusesNonRootServer(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	mallory, u := newUser(t), newUser(t)
	f := startFakeServer(t, b, mallory)
	svc := hostPamtesterService(t, module, f.Socket, 5)
	r := hostPamtester(t, svc, u.Name, "123456\n", 30*time.Second)
	requireHostRefused(t, r, hostPtUnavail)
	require.NotContains(t, r.Out(), "fakeserver says yes")
	require.Empty(t, f.Requests(), "the module sent a server that is not root requests")
}

// TestRootCtlIgnoresSocketEnv: root's totpctl never takes the socket
// from $TOTPD_SOCKET (whoever prepared its environment may have set it)
// and uses the default socket, while a user's totpctl does take it and
// --socket works for both.
func TestRootCtlIgnoresSocketEnv(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)

	// A listener run by root at $TOTPD_SOCKET that counts who comes and
	// hangs up.
	var came atomic.Int32
	sock := wiretest.NewRawServer(t, func(*wiretest.Conn) { came.Add(1) }).Socket
	require.NoError(t, os.Chmod(sock, 0o666))

	run := func(as *account, args ...string) ctlResult {
		t.Helper()
		cmd := exec.Command(b.Totpctl, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", client.SocketEnv + "=" + sock}
		cmd.Dir = "/"
		if as != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: as.credential()}
		}
		var out, errb testutils.LockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return ctlResult{Stdout: out.String(), Stderr: errb.String(), Code: code}
	}

	r := run(nil, "status")
	require.Equal(t, int32(0), came.Load(), "root's totpctl went to $TOTPD_SOCKET: %s", r)
	require.NotContains(t, r.Stderr, sock)
	if r.Code != 0 {
		// No totpd on this machine's default socket: the message names it.
		require.Equal(t, 3, r.Code, "%s", r)
		require.Contains(t, r.Stderr, client.DefaultSocket, "%s", r)
	}

	r = run(nil, "--socket", d.Socket, "status")
	require.Equal(t, 0, r.Code, "root's --socket: %s", r)
	require.Equal(t, int32(0), came.Load())

	r = run(&u, "status")
	require.Equal(t, 3, r.Code, "the listener hangs up: %s", r)
	require.Contains(t, r.Stderr, sock)
	require.Equal(t, int32(1), came.Load(), "a user's totpctl takes $TOTPD_SOCKET")

	r = run(&u, "--socket", d.Socket, "status")
	require.Equal(t, 0, r.Code, "a user's --socket: %s", r)
}
