package e2e

// Host 1 of ARCHITECTURE.md, "The host matrix": pamtester, against the real daemon.

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
	"github.com/totpd/totpd/e2e/hostkit"
)

// hostIgnoredTag is what pam_echo prints when pam_totpd answered PAM_IGNORE.
const hostIgnoredTag = "TOTPD-E2E-IGNORED"

// hostPamtesterStack is a stack where pamtester tells the three outcomes
// apart: success ends the stack (authenticated, no tag); PAM_IGNORE goes
// on to pam_echo, which prints the tag, and pam_permit (authenticated,
// with the tag); anything else ends it with the module's own result.
// The first line is the one of contrib/pam.d/sshd-key-and-code.
const hostPamtesterStack = `auth    [success=done ignore=ignore default=die]  pam_totpd.so
auth    optional    pam_echo.so ` + hostIgnoredTag + `
auth    required    pam_permit.so
account required    pam_permit.so
`

// hostPamtesterService writes hostPamtesterStack for the daemon at socket.
func hostPamtesterService(t *testing.T, module, socket string, timeout int) string {
	t.Helper()
	return hostService(t, "pt", hostAdapt(t, hostPamtesterStack, module, socket, timeout))
}

// requireHostSuccess checks that pamtester authenticated, through the
// module's success (tag false) or its PAM_IGNORE (tag true).
func requireHostSuccess(t *testing.T, r hostRun, tag bool) {
	t.Helper()
	require.Equal(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Out(), hostPtSuccess, "%s", r)
	if tag {
		require.Contains(t, r.Stdout, hostIgnoredTag, "PAM_IGNORE expected: %s", r)
	} else {
		require.NotContains(t, r.Stdout, hostIgnoredTag, "PAM_SUCCESS expected, got PAM_IGNORE: %s", r)
	}
}

// requireHostRefused checks that pamtester was refused with want (a
// pamtester result line) and that the module did not answer PAM_IGNORE.
func requireHostRefused(t *testing.T, r hostRun, want string) {
	t.Helper()
	require.NotEqual(t, 0, r.Code, "%s", r)
	require.NotContains(t, r.Out(), hostPtSuccess, "%s", r)
	require.NotContains(t, r.Stdout, hostIgnoredTag, "%s", r)
	require.Contains(t, r.Stderr, want, "%s", r)
}

func TestHostPamtesterCodes(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	d := startDaemon(t, b, config{MaxFailures: 3, LockoutDuration: "15m"})
	svc := hostPamtesterService(t, module, d.Socket, 5)
	alice, bob := newUser(t), newUser(t)
	ea, eb := hostEnroll(t, d, alice), hostEnroll(t, d, bob)
	const limit = 30 * time.Second

	step := stableStep(t, 8*time.Second)
	code := codeForStep(t, ea.Secret, step)

	// Accepted: the prompt is ours, the stack ends on the module's success.
	r := hostPamtester(t, svc, alice.Name, code+"\n", limit)
	requireHostSuccess(t, r, false)
	require.Contains(t, r.Out(), "Verification code: ")
	// The daemon heard the login as pamtester described it.
	audit := strings.Join(hostAudit(d, alice.Name), "\n")
	require.Contains(t, audit, `service="`+svc+`"`)
	require.Contains(t, audit, `rhost="198.51.100.9"`)
	require.Contains(t, audit, `tty="pts/7"`)

	// Replayed: the same code a second time is refused, and says why.
	r = hostPamtester(t, svc, alice.Name, code+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	require.Contains(t, r.Out(), "already used")

	// Wrong.
	wrong := hostWrongCode(t, ea.Secret)
	r = hostPamtester(t, svc, alice.Name, wrong+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	require.Contains(t, r.Out(), "Wrong verification code.")

	// A recovery code is accepted at the same prompt, once.
	r = hostPamtester(t, svc, alice.Name, ea.RecoveryCodes[0]+"\n", limit)
	requireHostSuccess(t, r, false)
	require.Contains(t, r.Out(), "Recovery code used")
	r = hostPamtester(t, svc, alice.Name, ea.RecoveryCodes[0]+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)

	// Locked: three wrong codes lock bob (max_failures = 3); the third
	// refusal says so, and then even the right code is refused up front,
	// without a prompt, with the lock explained.
	wrong = hostWrongCode(t, eb.Secret)
	for i := 1; i <= 3; i++ {
		r = hostPamtester(t, svc, bob.Name, wrong+"\n", limit)
		requireHostRefused(t, r, hostPtAuthErr)
	}
	require.Contains(t, r.Out(), "locked")
	step = stableStep(t, 8*time.Second)
	r = hostPamtester(t, svc, bob.Name, codeForStep(t, eb.Secret, step)+"\n", limit)
	require.NotEqual(t, 0, r.Code, "%s", r)
	require.NotContains(t, r.Out(), hostPtSuccess)
	require.NotContains(t, r.Out(), "Verification code: ", "a locked user is not asked for a code")
	require.Contains(t, r.Out(), "Too many wrong codes")
	require.Contains(t, r.Out(), "totpctl user unlock "+bob.Name)
	require.True(t, d.Show(bob.Name).Locked)

	// Unlocked by an admin, bob's right code works.
	d.CtlOK(nil, "user", "unlock", bob.Name)
	r = hostPamtester(t, svc, bob.Name, codeForStep(t, eb.Secret, step)+"\n", limit)
	requireHostSuccess(t, r, false)
}

func TestHostPamtesterPolicy(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	const limit = 30 * time.Second

	t.Run("not applicable", func(t *testing.T) {
		// require = none and not enrolled: PAM_IGNORE, the stack goes on.
		d := startDaemon(t, b, config{})
		svc := hostPamtesterService(t, module, d.Socket, 5)
		u := newUser(t)
		r := hostPamtester(t, svc, u.Name, "", limit)
		requireHostSuccess(t, r, true)
		require.NotContains(t, r.Out(), "Verification code: ")
	})

	t.Run("in grace", func(t *testing.T) {
		// Required, not enrolled, before the deadline: let in, and told.
		d := startDaemon(t, b, config{Require: "all", GracePeriod: "7d"})
		svc := hostPamtesterService(t, module, d.Socket, 5)
		u := newUser(t)
		r := hostPamtester(t, svc, u.Name, "", limit)
		requireHostSuccess(t, r, false)
		require.NotContains(t, r.Out(), "Verification code: ")
		require.Contains(t, r.Stdout, "A verification code will be required for "+u.Name+" from ")
		require.Contains(t, r.Stdout, "totpctl enroll")
	})

	t.Run("past deadline", func(t *testing.T) {
		// Required, not enrolled, the grace period over: refused, and told what to do.
		d := startDaemon(t, b, config{Require: "all", GracePeriod: "0s"})
		svc := hostPamtesterService(t, module, d.Socket, 5)
		u := newUser(t)
		r := hostPamtester(t, svc, u.Name, "", limit)
		requireHostRefused(t, r, hostPtAuthErr)
		require.Contains(t, r.Stderr, "A verification code is required for "+u.Name+" since ")
		require.Contains(t, r.Stderr, "totpctl user enroll "+u.Name)
	})
}

func TestHostPamtesterFaults(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	const timeout = 2 // seconds, the module's bound on each exchange
	const bound = (timeout + 1) * time.Second
	const limit = 30 * time.Second

	// faulty checks the one outcome a broken daemon may give: refused as
	// "cannot retrieve authentication info", within timeout + 1 s, never
	// in, never "not for this user".
	faulty := func(t *testing.T, svc, user, stdin string) hostRun {
		t.Helper()
		r := hostPamtester(t, svc, user, stdin, limit)
		requireHostRefused(t, r, hostPtUnavail)
		require.LessOrEqual(t, r.Elapsed, bound, "%s", r)
		return r
	}

	t.Run("daemon stopped", func(t *testing.T) {
		d := startDaemon(t, b, config{})
		svc := hostPamtesterService(t, module, d.Socket, timeout)
		u := newUser(t)
		e := hostEnroll(t, d, u)
		require.NoError(t, d.Stop())
		faulty(t, svc, u.Name, codeAt(t, e.Secret, time.Now())+"\n")
	})

	t.Run("daemon hung", func(t *testing.T) {
		// The real daemon, stopped with SIGSTOP: the kernel still accepts
		// connections on its socket, nobody answers.
		d := startDaemon(t, b, config{})
		svc := hostPamtesterService(t, module, d.Socket, timeout)
		u := newUser(t)
		e := hostEnroll(t, d, u)
		pid := d.Pid()
		d.Signal(syscall.SIGSTOP)
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
		r := faulty(t, svc, u.Name, codeAt(t, e.Secret, time.Now())+"\n")
		require.GreaterOrEqual(t, r.Elapsed, time.Duration(timeout)*time.Second-100*time.Millisecond, "gave up before the timeout: %s", r)
		d.Signal(syscall.SIGCONT)
		// Awake again, it serves the next login.
		step := stableStep(t, 8*time.Second)
		r = hostPamtester(t, svc, u.Name, codeForStep(t, e.Secret, step)+"\n", limit)
		requireHostSuccess(t, r, false)
	})

	// The fakes below answer for any user; pamtester needs a real account.
	u := newUser(t)

	t.Run("listener never answers", func(t *testing.T) {
		sock := wiretest.NewRawServer(t, (*wiretest.Conn).Hang).Socket
		r := faulty(t, hostPamtesterService(t, module, sock, timeout), u.Name, "123456\n")
		require.GreaterOrEqual(t, r.Elapsed, time.Duration(timeout)*time.Second-100*time.Millisecond, "%s", r)
	})

	// Garbage, in the ways a broken or foreign daemon could answer.
	frameOf := func(body string) []byte { return frame([]byte(body)) }
	garbage := map[string]func(*wiretest.Conn){
		"text": func(c *wiretest.Conn) {
			c.Write([]byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"))
			c.Hang()
		},
		"huge length": func(c *wiretest.Conn) {
			var b [4]byte
			binary.BigEndian.PutUint32(b[:], 0xfffffff0)
			c.Write(append(b[:], "{}"...))
			c.Hang()
		},
		"short frame then close": func(c *wiretest.Conn) {
			c.Write(frameOf(`{"v":1,"action":"prompt"}`)[:10])
		},
		"not JSON": func(c *wiretest.Conn) {
			c.Write(frameOf(`<xml>yes</xml>`))
			c.Hang()
		},
		"unknown action": func(c *wiretest.Conn) {
			c.Write(frameOf(`{"v":1,"action":"let-everyone-in"}`))
			c.Hang()
		},
		"wrong version": func(c *wiretest.Conn) {
			c.Write(frameOf(`{"v":99,"action":"allow"}`))
			c.Hang()
		},
		"drip": func(c *wiretest.Conn) {
			// A valid length, then a byte at a time, forever: only a bound
			// on the whole exchange (not on each read) ends this.
			body := frameOf(`{"v":1,"action":"prompt","messages":[{"text":"` + strings.Repeat("x", 1000) + `"}]}`)
			for _, ch := range body {
				if _, err := c.Write([]byte{ch}); err != nil {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
		},
		"prompt, then garbage on verify": func(c *wiretest.Conn) {
			req, err := c.ReadRequest()
			if err != nil {
				return
			}
			if req.Op == wire.OpLoginQuery {
				c.Write(frameOf(`{"v":1,"action":"prompt"}`))
				return
			}
			c.Write([]byte("\x00\x00\x00\x05nope!"))
			c.Hang()
		},
		"prompt, then hang on verify": func(c *wiretest.Conn) {
			req, err := c.ReadRequest()
			if err != nil {
				return
			}
			if req.Op == wire.OpLoginQuery {
				c.Write(frameOf(`{"v":1,"action":"prompt"}`))
				return
			}
			c.Hang()
		},
	}
	for name, serve := range garbage {
		t.Run("garbage: "+name, func(t *testing.T) {
			sock := wiretest.NewRawServer(t, serve).Socket
			r := faulty(t, hostPamtesterService(t, module, sock, timeout), u.Name, "123456\n")
			assert.NotContains(t, r.Out(), "let-everyone-in")
		})
	}
}

// TestHostPamAuthUpdate enables the shipped pam-auth-update profile,
// contrib/pam-configs/totpd, with Debian's own pam-auth-update, and
// checks the common-auth it writes with pamtester. It all happens on
// copies of /etc/pam.d, /usr/share/pam-configs, /var/lib/pam and
// debconf's database, bind-mounted over the originals in a private
// mount namespace: the machine's common-* files are never changed.
func TestHostPamAuthUpdate(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester", "pam-auth-update", "unshare", "mount", "cp", "chpasswd")
	d := startDaemon(t, b, config{})
	alice, carol := newUser(t), newUser(t) // carol: not enrolled, not required
	pw := map[string]string{alice.Name: hostPassword(), carol.Name: hostPassword()}
	hostSetPasswords(t, pw)
	e := hostEnroll(t, d, alice)

	dir := publicDir(t)
	var binds []hostkit.Bind
	for _, orig := range []string{"/etc/pam.d", "/usr/share/pam-configs", "/var/lib/pam", "/var/cache/debconf"} {
		cp := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(orig, "/"), "/", "_"))
		out, err := exec.Command("cp", "-a", orig, cp).CombinedOutput()
		require.NoError(t, err, "cp -a %s: %s", orig, out)
		binds = append(binds, hostkit.Bind{Src: cp, Dst: orig})
	}
	pamd, configs := binds[0].Src, binds[1].Src
	hostFile(t, configs, "totpd", hostContribStack(t, "pam-configs/totpd", module, d.Socket, 5), 0o644)
	// A service of the test's own in the copy: the auth stack is common-auth.
	const svc = "totpd-e2e-pam-auth-update"
	hostFile(t, pamd, svc, "@include common-auth\n@include common-account\n", 0o644)

	update := func(args ...string) {
		t.Helper()
		cmd := hostNamespaced(binds, append([]string{"pam-auth-update"}, args...)...)
		cmd.Env = append(cmd.Env, "DEBIAN_FRONTEND=noninteractive")
		r := hostExec(t, cmd, "", 60*time.Second)
		require.Equal(t, 0, r.Code, "pam-auth-update %v: %s", args, r)
	}
	pamtester := func(user, stdin string) hostRun {
		t.Helper()
		cmd := hostNamespaced(binds[:1], "pamtester", "-v", svc, user, "authenticate")
		return hostExec(t, cmd, stdin, 30*time.Second)
	}

	update("--enable", "totpd")
	common, err := os.ReadFile(filepath.Join(pamd, "common-auth"))
	require.NoError(t, err)
	t.Logf("common-auth with the profile enabled:\n%s", common)
	require.Regexp(t, `(?m)^auth\s+required\s+`+regexp.QuoteMeta(module)+` socket=`, string(common))
	// After the password modules: pam_unix first, then the code.
	require.Less(t, strings.Index(string(common), "pam_unix.so"), strings.Index(string(common), module))

	// The password, then the code.
	step := stableStep(t, 8*time.Second)
	r := pamtester(alice.Name, pw[alice.Name]+"\n"+codeForStep(t, e.Secret, step)+"\n")
	require.Equal(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Out(), hostPtSuccess)
	require.Less(t, strings.Index(r.Out(), "Password: "), strings.Index(r.Out(), "Verification code: "), "%s", r)
	// A wrong code.
	r = pamtester(alice.Name, pw[alice.Name]+"\n"+hostWrongCode(t, e.Secret)+"\n")
	requireHostRefused(t, r, hostPtAuthErr)
	require.Contains(t, r.Out(), "Wrong verification code.")
	// A wrong password: no code is asked (pam_deny is requisite).
	r = pamtester(alice.Name, "not-"+pw[alice.Name]+"\n"+codeForStep(t, e.Secret, step+1)+"\n")
	requireHostRefused(t, r, hostPtAuthErr)
	require.NotContains(t, r.Out(), "Verification code: ")
	// Not enrolled, not required: the password alone (PAM_IGNORE under
	// "required" leaves pam_permit's success).
	r = pamtester(carol.Name, pw[carol.Name]+"\n")
	require.Equal(t, 0, r.Code, "%s", r)
	require.NotContains(t, r.Out(), "Verification code: ")

	// Disabled again, common-auth is as it was.
	update("--disable", "totpd")
	common, err = os.ReadFile(filepath.Join(pamd, "common-auth"))
	require.NoError(t, err)
	require.NotContains(t, string(common), "pam_totpd")
	orig, err := os.ReadFile("/etc/pam.d/common-auth")
	require.NoError(t, err)
	require.Equal(t, string(orig), string(common))
}
