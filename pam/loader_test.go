package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/wire"
)

// Linux-PAM result numbers, as testhost prints them.
const (
	nSuccess  = "0"
	nAuthErr  = "7"
	nUnavail  = "9"
	nCredSucc = "0"
)

var resultRE = regexp.MustCompile(`(?m)^result=(\d+) `)

var (
	testhostOnce sync.Once
	testhostPath string
)

// testhost builds testdata/testhost.c once per run.
func testhost(t *testing.T) string {
	t.Helper()
	dir := moduleDir(t)
	testhostOnce.Do(func() { testhostPath = compileC(t, dir, "testhost", "testhost.c", "-lpam") })
	if testhostPath == "" {
		t.Fatal("testhost did not build")
	}
	return testhostPath
}

type hostRun struct {
	run
	results []string
	fields  map[string]string
}

// runHost runs testhost on service with a SIGCHLD mode, rounds of
// pam_authenticate, and answers for the prompts.
func runHost(t *testing.T, service, mode string, rounds string, env []string, answers ...string) hostRun {
	t.Helper()
	return runHostAs(t, service, "alice", mode, rounds, env, answers...)
}

// runHostAs is runHost for user ("-": PAM asks for the name).
func runHostAs(t *testing.T, service, user, mode string, rounds string, env []string, answers ...string) hostRun {
	t.Helper()
	r := runCmd(t, "", env, testhost(t), append([]string{service, user, mode, rounds}, answers...)...)
	require.Equal(t, 0, r.code, "%s", r)
	h := hostRun{run: r, fields: map[string]string{}}
	for _, m := range resultRE.FindAllStringSubmatch(r.stdout, -1) {
		h.results = append(h.results, m[1])
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "result" && k != "user" {
			h.fields[k] = v
		}
	}
	return h
}

// assertNoGoInHost checks what the whole design is for: the host process
// never had the Go library mapped and still has its one thread.
func assertNoGoInHost(t *testing.T, h hostRun) {
	t.Helper()
	assert.Equal(t, "0", h.fields["go_in_host"], "the Go library was mapped into the host\n%s", h.run)
	assert.Equal(t, h.fields["threads_before"], h.fields["threads"], "the host has more threads than it started with\n%s", h.run)
	assert.NotEmpty(t, h.fields["threads"])
}

// hostModes are the ways hosts treat their children and signals, as
// testhost plays them: a SIGCHLD handler that reaps everything, SIGCHLD
// ignored (the kernel reaps), a thread that reaps everything, and a timer
// signal that interrupts every slow system call.
var hostModes = []string{"none", "reaper-handler", "ignore", "reaper-thread", "alarm", "reaper-handler,alarm", "reaper-thread,alarm"}

func TestLoaderHostsReapingChildren(t *testing.T) {
	for _, mode := range hostModes {
		t.Run(mode, func(t *testing.T) {
			d := newFakeDaemon(t, promptFor("123456", wire.Message{Text: "Welcome."}))
			svc := simpleService(t, d)

			h := runHost(t, svc, mode, "1", nil, "123456")
			assert.Equal(t, []string{nSuccess}, h.results, "%s", h.run)
			assert.Contains(t, h.stdout, "PROMPT: Verification code: ")
			assert.Contains(t, h.stdout, "INFO: Welcome.")
			assert.Equal(t, nCredSucc, h.fields["setcred"])
			assertNoGoInHost(t, h)

			h = runHost(t, svc, mode, "1", nil, "000000")
			assert.Equal(t, []string{nAuthErr}, h.results, "%s", h.run)
			assert.Contains(t, h.stdout, "ERROR: Wrong verification code.")
			assertNoGoInHost(t, h)

			// Several authentications in one host, as sshd does when a
			// client tries again: each gets its own child.
			h = runHost(t, svc, mode, "3", nil, "000000", "123456", "111111")
			assert.Equal(t, []string{nAuthErr, nSuccess, nAuthErr}, h.results, "%s", h.run)
			assertNoGoInHost(t, h)

			// Enough rounds for the host's reaper to win some races.
			answers := make([]string, 12)
			want := make([]string, len(answers))
			for i := range answers {
				answers[i], want[i] = "123456", nSuccess
				if i%3 == 1 {
					answers[i], want[i] = "999999", nAuthErr
				}
			}
			h = runHost(t, svc, mode, strconv.Itoa(len(answers)), nil, answers...)
			assert.Equal(t, want, h.results, "%s", h.run)
			assertNoGoInHost(t, h)
			t.Logf("%s: %d of %d children reaped by the host", mode, atoi(h.fields["reaped_by_host"]), len(answers))

			reqs := d.Requests()
			require.NotEmpty(t, reqs)
			for _, r := range reqs {
				assert.Equal(t, svc, r.Service)
				assert.Equal(t, "203.0.113.5", r.RHost)
				assert.Equal(t, "ssh", r.TTY)
			}
		})
	}
}

// A user name the host did not give is asked for in the host, once: the
// child's copy of the PAM handle, where Go would set it, dies with it.
func TestLoaderAsksUserInHost(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	svc := simpleService(t, d)
	h := runHostAs(t, svc, "-", "reaper-handler", "2", nil, "alice,123456", "000000")
	assert.Equal(t, []string{nSuccess, nAuthErr}, h.results, "%s", h.run)
	assert.Equal(t, 1, strings.Count(h.stdout, "PROMPT_ECHO: login:"), "%s", h.run)
	assert.Equal(t, 2, strings.Count(h.stdout, "user=alice\n"), "%s", h.run)
	for _, r := range d.Requests() {
		assert.Equal(t, "alice", r.User)
	}
	assertNoGoInHost(t, h)
}

func TestLoaderDaemonUnavailable(t *testing.T) {
	d := newFakeDaemon(t, promptFor("1"))
	svc := simpleService(t, d)
	d.Close()
	for _, mode := range hostModes {
		h := runHost(t, svc, mode, "1", nil)
		assert.Equal(t, []string{nUnavail}, h.results, "%s: %s", mode, h.run)
		assertNoGoInHost(t, h)
	}
}

// fakeGoDir holds the loader beside a C stand-in for the Go library.
func fakeGoDir(t *testing.T) string {
	dir := t.TempDir() // 0700, root's
	loader, err := os.ReadFile(filepath.Join(moduleDir(t), "pam_totpd.so"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pam_totpd.so"), loader, 0o644))
	compileC(t, dir, "pam_totpd_go.so", "fakego.c", "-shared", "-fPIC")
	require.NoError(t, os.Chmod(filepath.Join(dir, "pam_totpd_go.so"), 0o644))
	return dir
}

func TestLoaderChildMisbehaves(t *testing.T) {
	dir := fakeGoDir(t)
	svc := pamService(t, "auth required "+filepath.Join(dir, "pam_totpd.so"))
	for _, tc := range []struct{ fakego, want string }{
		{"0", nSuccess},     // sanity: the stand-in can say yes
		{"7", nAuthErr},     // and no
		{"kill", nUnavail},  // died of a signal: no answer
		{"exit", nUnavail},  // exited without an answer
		{"bogus", nAuthErr}, // an answer PAM modules do not give
		{"4", nAuthErr},     // PAM_SYSTEM_ERR is not among the expected answers either
	} {
		for _, mode := range hostModes {
			h := runHost(t, svc, mode, "1", []string{"FAKEGO=" + tc.fakego})
			assert.Equal(t, []string{tc.want}, h.results, "FAKEGO=%s %s: %s", tc.fakego, mode, h.run)
		}
	}
}

func TestLoaderRefusesUntrustedLibrary(t *testing.T) {
	for name, spoil := range map[string]func(t *testing.T, dir string){
		"missing": func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "pam_totpd_go.so")))
		},
		"group-writable": func(t *testing.T, dir string) {
			require.NoError(t, os.Chmod(filepath.Join(dir, "pam_totpd_go.so"), 0o664))
		},
		"world-writable": func(t *testing.T, dir string) {
			require.NoError(t, os.Chmod(filepath.Join(dir, "pam_totpd_go.so"), 0o646))
		},
		"not root's": func(t *testing.T, dir string) {
			require.NoError(t, os.Chown(filepath.Join(dir, "pam_totpd_go.so"), 65534, 65534))
		},
		"a symlink": func(t *testing.T, dir string) {
			lib := filepath.Join(dir, "pam_totpd_go.so")
			require.NoError(t, os.Rename(lib, lib+".real"))
			require.NoError(t, os.Symlink(lib+".real", lib))
		},
		"directory writable by others": func(t *testing.T, dir string) {
			require.NoError(t, os.Chmod(dir, 0o777))
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := fakeGoDir(t)
			svc := pamService(t, "auth required "+filepath.Join(dir, "pam_totpd.so"))
			h := runHost(t, svc, "none", "1", []string{"FAKEGO=0"})
			require.Equal(t, []string{nSuccess}, h.results, "the untouched copy must work: %s", h.run)
			spoil(t, dir)
			h = runHost(t, svc, "none", "1", []string{"FAKEGO=0"})
			assert.Equal(t, []string{nUnavail}, h.results, "%s", h.run)
		})
	}
}

func TestLoaderOtherPAMCalls(t *testing.T) {
	dir := moduleDir(t)
	svc := pamService(t,
		"auth required pam_permit.so",
		"account required "+filepath.Join(dir, "pam_totpd.so"),
		"session required "+filepath.Join(dir, "pam_totpd.so"),
		"password required "+filepath.Join(dir, "pam_totpd.so"))
	// An account stack of nothing but PAM_IGNORE must not let anyone in.
	r := runCmd(t, "", nil, "pamtester", svc, "alice", "acct_mgmt")
	assert.NotEqual(t, 0, r.code, "%s", r)
	assert.NotContains(t, r.stdout, "successfully")
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// When the host gives up on a login and dies, the child goes with it
// rather than stay behind reading the terminal or the client.
func TestLoaderChildDiesWithHost(t *testing.T) {
	d := newFakeDaemon(t, promptFor("123456"))
	svc := simpleService(t, d)
	cmd := exec.Command(testhost(t), svc, "alice", "none", "1", "HANG")
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	pid := 0
	deadline := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for pid == 0 && lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "CONV_PID="); ok {
			pid = atoi(v)
		}
	}
	require.NotZero(t, pid, "the conversation never started")
	require.NotEqual(t, cmd.Process.Pid, pid, "the conversation ran in the host, not in a child")
	require.True(t, alive(pid))

	require.NoError(t, cmd.Process.Kill())
	cmd.Wait()
	for start := time.Now(); alive(pid); time.Sleep(10 * time.Millisecond) {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("the child %d outlived its host", pid)
		}
	}
}

// alive reports whether pid runs (a zombie has finished).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}
