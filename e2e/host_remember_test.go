package e2e

// Remembered logins ([policy] remember, PRODUCT.md §4) through real hosts:
// pamtester with a remote host, sshd with a public key, su without one.

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/totpd/totpd/e2e/hostkit"
)

// hostRememberedMsg starts the line the daemon shows a remembered login.
const hostRememberedMsg = "Remembered login: no code needed until "

// hostPamtesterFrom is hostPamtester from another remote host.
func hostPamtesterFrom(t *testing.T, service, user, rhost, stdin string, limit time.Duration) hostRun {
	t.Helper()
	cmd := exec.Command("pamtester", "-v", "-I", "rhost="+rhost, "-I", "tty=pts/7", service, user, "authenticate")
	cmd.Env = hostEnv()
	return hostExec(t, cmd, stdin, limit)
}

// TestHostRememberPamtester: after a code, the same login from the same
// address asks none and says until when; another address asks; the
// entry survives a daemon restart; `totpctl user forget` drops it.
func TestHostRememberPamtester(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	d := startDaemon(t, b, config{Remember: "8h"})
	svc := hostPamtesterService(t, module, d.Socket, 5)
	alice := newUser(t)
	e := hostEnroll(t, d, alice)
	const limit = 30 * time.Second
	step := stableStep(t, 8*time.Second)

	r := hostPamtester(t, svc, alice.Name, codeForStep(t, e.Secret, step)+"\n", limit)
	requireHostSuccess(t, r, false)
	require.Contains(t, r.Out(), "Verification code: ")

	// The second login: no code (stdin is empty, so a prompt would fail).
	r = hostPamtester(t, svc, alice.Name, "", limit)
	requireHostSuccess(t, r, false)
	require.NotContains(t, r.Out(), "Verification code: ")
	require.Contains(t, r.Out(), hostRememberedMsg)
	require.Contains(t, r.Out(), "(this service and this address).")
	audit := strings.Join(hostAudit(d, alice.Name), "\n")
	require.Contains(t, audit, `login.query user="`+alice.Name+`" result=remembered`)
	require.Contains(t, audit, `rhost="198.51.100.9"`)

	// Another address asks for a code.
	r = hostPamtesterFrom(t, svc, alice.Name, "198.51.100.10", "", limit)
	require.NotEqual(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Out(), "Verification code: ")

	// It is in the user's record: a restart keeps it.
	require.NoError(t, d.Stop())
	d.Start()
	r = hostPamtester(t, svc, alice.Name, "", limit)
	requireHostSuccess(t, r, false)
	require.Contains(t, r.Out(), hostRememberedMsg)

	// totpctl user forget drops it.
	out := d.CtlOK(nil, "user", "forget", alice.Name)
	require.Contains(t, out.Stdout, "remembered logins are forgotten (1)")
	r = hostPamtester(t, svc, alice.Name, "", limit)
	require.NotEqual(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Out(), "Verification code: ")
}

// TestHostRememberSSHD: two logins with the same key from the same
// address, the second asks no code and is told so; another key asks
// again. sshd gives the module the key through ExposeAuthInfo.
func TestHostRememberSSHD(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t)
	d := startDaemon(t, b, config{Remember: "8h"})
	signer, authorized := hostClientKey(t)
	other, otherAuthorized := hostClientKey(t)
	alice := newUser(t)
	hostAuthorizeKey(t, alice, append(append([]byte{}, authorized...), otherAuthorized...))
	e := hostEnroll(t, d, alice)
	stack := hostContribStack(t, "pam.d/sshd-key-and-code", module, d.Socket, 10)
	s := hostStartSSHD(t, stack, hostContribPath(t, "sshd_config.d/totpd-key-and-code.conf"), "ExposeAuthInfo yes")

	step := stableStep(t, 8*time.Second)
	k := &hostKbd{answer: hostAnswers("", codeForStep(t, e.Secret, step))}
	r := s.Login(alice.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	require.Contains(t, k.Shown(), "Verification code: ")

	// The same key from the same address: no code is asked (hostAnswers
	// has none left, so a question fails the login), and the message says
	// why (sshd sends what PAM showed without a question after it in the
	// banner after keyboard-interactive), also on a terminal.
	for _, pty := range []bool{false, true} {
		k = &hostKbd{answer: hostAnswers("")}
		r = s.Login(alice.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, pty, hostLoginLimit)
		require.NoError(t, r.Err, "shown:\n%s", k.Shown())
		require.NotContains(t, k.Shown(), "Verification code: ")
		require.Contains(t, r.Banner+k.Shown(), hostRememberedMsg)
		require.Contains(t, r.Banner+k.Shown(), "(this service, this address and key).")
		if pty {
			require.Contains(t, r.Output, hostRememberedMsg, "on a terminal")
			t.Logf("second login (pty), keyboard-interactive rounds %d, banner %q, terminal:\n%s", len(k.Rounds), r.Banner, r.Output)
		}
	}
	audit := strings.Join(hostAudit(d, alice.Name), "\n")
	require.Contains(t, audit, `result=remembered`)

	// Another key of the same user from the same address asks again.
	next := max(stableStep(t, 8*time.Second), step+1) // step is used
	k = &hostKbd{answer: hostAnswers("", codeForStep(t, e.Secret, next))}
	r = s.Login(alice.Name, []ssh.AuthMethod{ssh.PublicKeys(other), k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	require.Contains(t, k.Shown(), "Verification code: ")
	require.NotContains(t, k.Shown(), hostRememberedMsg)

	s.RequireNoSessionsLeft(10 * time.Second)
}

// TestHostRememberSu: su has no remote host, so it is never remembered:
// the second su right after an accepted code asks for a code again.
func TestHostRememberSu(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "runuser", "su", "unshare", "chpasswd", "mount")
	d := startDaemon(t, b, config{Remember: "8h"})
	alice, bob := newUser(t), newUser(t)
	pw := hostPassword()
	hostSetPasswords(t, map[string]string{bob.Name: pw})
	e := hostEnroll(t, d, bob)
	stack := hostFile(t, publicDir(t), "su", hostContribStack(t, "pam.d/su", module, d.Socket, 10), 0o644)
	su := func(t *testing.T) *hostTerm {
		cmd := hostNamespaced([]hostkit.Bind{{Src: stack, Dst: "/etc/pam.d/su"}},
			"runuser", "-u", alice.Name, "--", "su", "-", bob.Name, "-c", "echo "+hostLoginMarker+"$(id -un)")
		return hostStartTerm(t, cmd)
	}
	step := stableStep(t, 20*time.Second)
	for i, s := range []int64{step, step + 1} {
		term := su(t)
		term.Expect("Password: ", hostStep)
		term.Type(pw)
		term.Expect("Verification code: ", hostStep) // asked the second time too
		term.Type(codeForStep(t, e.Secret, s))
		require.Equal(t, 0, term.Wait(hostStep), "su %d:\n%s", i+1, term.Output())
		require.NotContains(t, term.Output(), hostRememberedMsg)
	}
	require.NotContains(t, strings.Join(hostAudit(d, bob.Name), "\n"), "result=remembered")
}
