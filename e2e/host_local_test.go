package e2e

// Host 3 of ARCHITECTURE.md, "The host matrix": su from a non-root user, sudo, and login on a
// pseudo-terminal, each with its shipped contrib/pam.d file. Their PAM
// service names are fixed, so each runs in a private mount namespace
// where the test's stack is bind-mounted over /etc/pam.d/<service> (and
// a sudoers of the test's over /etc/sudoers): only that process tree
// sees it, the machine's files are never changed.

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/e2e/hostkit"
)

// hostTerm is a program on a pseudo-terminal, driven like a person would
// (hostkit.Term, failing the test instead of reporting errors).
type hostTerm struct {
	t    *testing.T
	term *hostkit.Term
}

// hostStartTerm starts cmd on a new pseudo-terminal (its controlling
// terminal, in a session of its own); cleanup kills what is left of it.
func hostStartTerm(t *testing.T, cmd *exec.Cmd) *hostTerm {
	t.Helper()
	term, err := hostkit.StartTerm(cmd, 40, 120)
	require.NoError(t, err)
	t.Cleanup(func() {
		term.Close()
		if t.Failed() {
			t.Logf("terminal of %v:\n%s", cmd.Args, term.Output())
		}
	})
	return &hostTerm{t: t, term: term}
}

// Expect waits until the terminal shows s after what earlier
// expectations consumed, and consumes up to its end.
func (h *hostTerm) Expect(s string, timeout time.Duration) {
	h.t.Helper()
	require.NoError(h.t, h.term.Expect(s, timeout))
}

// Type sends a line, as typed.
func (h *hostTerm) Type(line string) {
	h.t.Helper()
	require.NoError(h.t, h.term.Type(line))
}

// Wait waits for the program to end and reports its exit status.
func (h *hostTerm) Wait(timeout time.Duration) int {
	h.t.Helper()
	code, err := h.term.Wait(timeout)
	require.NoError(h.t, err, "terminal:\n%s", h.term.Output())
	return code
}

// Output reports everything the terminal showed.
func (h *hostTerm) Output() string { return h.term.Output() }

const hostStep = 15 * time.Second // bound on each step of a conversation

func TestHostSu(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "runuser", "su", "unshare", "chpasswd", "mount")
	d := startDaemon(t, b, config{})
	alice, bob := newUser(t), newUser(t)
	pw := hostPassword()
	hostSetPasswords(t, map[string]string{bob.Name: pw})
	e := hostEnroll(t, d, bob)
	dir := publicDir(t)
	stack := hostFile(t, dir, "su", hostContribStack(t, "pam.d/su", module, d.Socket, 10), 0o644)
	// `su -` uses the service su-l, whose Debian file includes su.
	su := func(t *testing.T) *hostTerm {
		cmd := hostNamespaced([]hostkit.Bind{{Src: stack, Dst: "/etc/pam.d/su"}},
			"runuser", "-u", alice.Name, "--", "su", "-", bob.Name, "-c", "echo "+hostLoginMarker+"$(id -un)")
		return hostStartTerm(t, cmd)
	}

	t.Run("password and code", func(t *testing.T) {
		step := stableStep(t, 10*time.Second)
		term := su(t)
		term.Expect("Password: ", hostStep)
		term.Type(pw)
		term.Expect("Verification code: ", hostStep)
		term.Type(codeForStep(t, e.Secret, step))
		require.Equal(t, 0, term.Wait(hostStep), "su:\n%s", term.Output())
		require.Contains(t, term.Output(), hostLoginMarker+bob.Name)
		audit := strings.Join(hostAudit(d, bob.Name), "\n")
		require.Regexp(t, `login.verify user="`+bob.Name+`" result=ok reason="login code accepted" caller="root" service="su(-l)?"`, audit)
	})

	t.Run("wrong code", func(t *testing.T) {
		term := su(t)
		term.Expect("Password: ", hostStep)
		term.Type(pw)
		term.Expect("Verification code: ", hostStep)
		term.Type(hostWrongCode(t, e.Secret))
		require.NotEqual(t, 0, term.Wait(hostStep))
		require.Contains(t, term.Output(), "Wrong verification code.")
		require.NotContains(t, term.Output(), hostLoginMarker)
	})

	t.Run("wrong password", func(t *testing.T) {
		// No code is asked: common-auth's pam_deny is requisite.
		term := su(t)
		term.Expect("Password: ", hostStep)
		term.Type("not-" + pw)
		require.NotEqual(t, 0, term.Wait(hostStep))
		require.NotContains(t, term.Output(), "Verification code: ")
		require.NotContains(t, term.Output(), hostLoginMarker)
	})
}

// hostSudoers is the sudoers file the sudo test runs with: alice may run
// anything as root with her password; never a cached timestamp, one try.
func hostSudoers(user string) string {
	return `Defaults env_reset
Defaults secure_path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Defaults !lecture
Defaults timestamp_timeout=0
Defaults passwd_tries=1
root ALL=(ALL:ALL) ALL
` + user + ` ALL=(ALL:ALL) ALL
`
}

func TestHostSudo(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "runuser", "sudo", "unshare", "chpasswd", "mount")
	d := startDaemon(t, b, config{})
	alice := newUser(t)
	pw := hostPassword()
	hostSetPasswords(t, map[string]string{alice.Name: pw})
	e := hostEnroll(t, d, alice)
	dir := publicDir(t)
	binds := []hostkit.Bind{
		{Src: hostFile(t, dir, "sudo", hostContribStack(t, "pam.d/sudo", module, d.Socket, 10), 0o644), Dst: "/etc/pam.d/sudo"},
		{Src: hostFile(t, dir, "sudoers", hostSudoers(alice.Name), 0o440), Dst: "/etc/sudoers"},
	}
	// sudo -S reads the password from stdin, and the code too: every
	// hidden question of the PAM conversation goes to stdin with -S.
	// (No -p: sudo would show its prompt for every question, ours too.)
	sudo := func(stdin string) hostRun {
		cmd := hostNamespaced(binds, "runuser", "-u", alice.Name, "--",
			"sudo", "-S", "--", "sh", "-c", "echo "+hostLoginMarker+"$(id -un)")
		return hostExec(t, cmd, stdin, 60*time.Second)
	}

	step := stableStep(t, 10*time.Second)
	r := sudo(pw + "\n" + codeForStep(t, e.Secret, step) + "\n")
	require.Equal(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Stdout, hostLoginMarker+"root")
	require.Contains(t, r.Stderr, "[sudo] password for "+alice.Name+": ")
	require.Contains(t, r.Stderr, "Verification code: ")
	require.Contains(t, strings.Join(hostAudit(d, alice.Name), "\n"), `result=ok reason="login code accepted" caller="root" service="sudo"`)

	// The same code again, and a wrong one: refused. sudo calls
	// pam_authenticate with PAM_SILENT, which the module honours, so the
	// person reads only sudo's "incorrect password attempt", not why.
	for _, code := range []string{codeForStep(t, e.Secret, step), hostWrongCode(t, e.Secret)} {
		r = sudo(pw + "\n" + code + "\n")
		require.NotEqual(t, 0, r.Code, "%s", r)
		require.NotContains(t, r.Stdout, hostLoginMarker)
		require.Contains(t, r.Stderr, "Verification code: ")
		require.Contains(t, r.Stderr, "incorrect password attempt")
	}
	audit := strings.Join(hostAudit(d, alice.Name), "\n")
	require.Contains(t, audit, `result=denied reason="code reused" caller="root" service="sudo"`)
	require.Contains(t, audit, `result=denied reason="wrong code" caller="root" service="sudo"`)
}

func TestHostLogin(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "login", "unshare", "chpasswd", "mount")
	d := startDaemon(t, b, config{})
	alice := newUser(t)
	pw := hostPassword()
	hostSetPasswords(t, map[string]string{alice.Name: pw})
	e := hostEnroll(t, d, alice)
	dir := publicDir(t)
	stack := hostFile(t, dir, "login", hostContribStack(t, "pam.d/login", module, d.Socket, 10), 0o644)
	login := func(t *testing.T) *hostTerm {
		cmd := hostNamespaced([]hostkit.Bind{{Src: stack, Dst: "/etc/pam.d/login"}}, "login")
		return hostStartTerm(t, cmd)
	}

	t.Run("password and code", func(t *testing.T) {
		step := stableStep(t, 10*time.Second)
		term := login(t)
		term.Expect("login: ", hostStep)
		term.Type(alice.Name)
		term.Expect("Password: ", hostStep)
		term.Type(pw)
		term.Expect("Verification code: ", hostStep)
		term.Type(codeForStep(t, e.Secret, step))
		// A shell (typing before its prompt would be lost): say who we
		// are, and leave.
		term.Expect("$ ", hostStep)
		term.Type("echo " + hostLoginMarker + "$(id -un); exit")
		term.Expect(hostLoginMarker+alice.Name, hostStep)
		require.Equal(t, 0, term.Wait(hostStep), "login:\n%s", term.Output())
		audit := strings.Join(hostAudit(d, alice.Name), "\n")
		require.Contains(t, audit, `result=ok reason="login code accepted" caller="root" service="login"`)
		require.Regexp(t, `tty="(/dev/)?pts/\d+"`, audit)
	})

	t.Run("wrong code", func(t *testing.T) {
		term := login(t)
		term.Expect("login: ", hostStep)
		term.Type(alice.Name)
		term.Expect("Password: ", hostStep)
		term.Type(pw)
		term.Expect("Verification code: ", hostStep)
		term.Type(hostWrongCode(t, e.Secret))
		term.Expect("Wrong verification code.", hostStep)
		term.Expect("Login incorrect", hostStep)
		// login asks again: give up there (cleanup ends it).
		term.Expect("login: ", hostStep)
		require.NotContains(t, term.Output(), hostLoginMarker)
	})
}
