package e2e

// forward_pass (pam_totpd(8)) through pamtester with pam_unix behind it:
// the shipped stack contrib/pam.d/openvpn, as a service that asks once
// (OpenVPN's auth-pam plugin, a mail server) uses it. pamtester with one
// line of input is such a client: a second prompt would find no answer
// and fail the login.

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/totp"
)

const hostForwardPrompt = "Password and verification code: "

// requireOnePrompt checks that the login asked exactly one question, want.
func requireOnePrompt(t *testing.T, r hostRun, want string) {
	t.Helper()
	out := r.Out()
	require.Equal(t, 1, strings.Count(out, want), "%s", r)
	for _, other := range []string{"Password: ", "Verification code: ", hostForwardPrompt} {
		if other != want {
			require.NotContains(t, out, other, "a second prompt: %s", r)
		}
	}
}

// hostVerifies counts the daemon's verifications of user's codes (audit lines of login.verify).
func hostVerifies(d *daemon, user string) int {
	n := 0
	for _, l := range hostAudit(d, user) {
		if strings.Contains(l, "login.verify") {
			n++
		}
	}
	return n
}

func TestHostForwardPass(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester", "chpasswd")
	d := startDaemon(t, b, config{})
	svc := hostService(t, "fwd", hostContribStack(t, "pam.d/openvpn", module, d.Socket, 5))
	require.Contains(t, hostContrib(t, "pam.d/openvpn"), "pam_totpd.so forward_pass")
	alice, bob := newUser(t), newUser(t)
	pwA, pwB := hostPassword(), hostPassword()
	hostSetPasswords(t, map[string]string{alice.Name: pwA, bob.Name: pwB})
	e := hostEnroll(t, d, alice)
	const limit = 30 * time.Second
	step := stableStep(t, 12*time.Second)
	codes := codesFrom(t, e.Secret, step-1, 3) // window 1: all three are good now, in order

	// The right password and code at the one prompt: in.
	r := hostPamtester(t, svc, alice.Name, pwA+codes[0]+"\n", limit)
	requireHostSuccess(t, r, false)
	requireOnePrompt(t, r, hostForwardPrompt)
	t.Logf("forward_pass session, right password and code:\n$ pamtester -v %s %s authenticate  # typed: PASSWORD%s\n%s%s", svc, alice.Name, codes[0], r.Stderr, r.Stdout)

	// A wrong password with a valid code: the code is good, so the daemon
	// takes it (and it is used up), and pam_unix refuses the password.
	r = hostPamtester(t, svc, alice.Name, "not-"+pwA+codes[1]+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	requireOnePrompt(t, r, hostForwardPrompt)
	require.Zero(t, d.Show(alice.Name).Failures)
	r = hostPamtester(t, svc, alice.Name, pwA+codes[1]+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	require.Contains(t, r.Out(), "already used", "the code that came with the wrong password was used")

	// The password alone: refused by the module, and no code was sent.
	before := hostVerifies(d, alice.Name)
	require.Equal(t, 3, before, "the audit shows the three codes sent so far")
	r = hostPamtester(t, svc, alice.Name, pwA+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	requireOnePrompt(t, r, hostForwardPrompt)
	require.Contains(t, r.Out(), "without a space, the 6-digit verification code")
	require.Equal(t, before, hostVerifies(d, alice.Name), "a login without a code sent one")
	// A code alone too.
	r = hostPamtester(t, svc, alice.Name, codes[2]+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	require.Equal(t, before, hostVerifies(d, alice.Name), "a login without a password sent its code")
	require.Zero(t, d.Show(alice.Name).Failures)

	// That code is still good with the password before it.
	r = hostPamtester(t, svc, alice.Name, pwA+codes[2]+"\n", limit)
	requireHostSuccess(t, r, false)

	// bob has no code (require = none): asked for the password alone,
	// once, which pam_unix checks.
	r = hostPamtester(t, svc, bob.Name, pwB+"\n", limit)
	require.Equal(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Out(), hostPtSuccess)
	requireOnePrompt(t, r, "Password: ")
	t.Logf("forward_pass session, a user without a code:\n$ pamtester -v %s %s authenticate  # typed: PASSWORD\n%s%s", svc, bob.Name, r.Stderr, r.Stdout)
	r = hostPamtester(t, svc, bob.Name, "not-"+pwB+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	requireOnePrompt(t, r, "Password: ")
}

// TestHostForwardPassEightDigits: the code length is the daemon's
// ([totp] digits = 8 at enrollment), not a guess of the module's. The
// stack is README's block, as written.
func TestHostForwardPassEightDigits(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester", "chpasswd")
	d := startDaemon(t, b, config{Extra: "[totp]\ndigits = 8"})
	svc := hostService(t, "fwd", hostAdapt(t, readmeRecipe(t, "forward-pass"), module, d.Socket, 5))
	alice := newUser(t)
	pw := hostPassword()
	hostSetPasswords(t, map[string]string{alice.Name: pw})
	e := hostEnroll(t, d, alice)
	secret, err := totp.DecodeSecret(e.Secret)
	require.NoError(t, err)
	p := totp.DefaultParams()
	p.Digits = 8
	step := stableStep(t, 12*time.Second)
	code, err := p.CodeAt(secret, step)
	require.NoError(t, err)
	require.Len(t, code, 8)

	// Six digits of it are not enough: the module cuts eight off the
	// end, which then are not all digits.
	r := hostPamtester(t, svc, alice.Name, pw+code[2:]+"\n", 30*time.Second)
	requireHostRefused(t, r, hostPtAuthErr)
	r = hostPamtester(t, svc, alice.Name, pw+code+"\n", 30*time.Second)
	requireHostSuccess(t, r, false)
	requireOnePrompt(t, r, hostForwardPrompt)
}
