package e2e

// Host 2 of ARCHITECTURE.md, "The host matrix": OpenSSH's sshd, with the shipped sshd_config.d
// drop-ins and PAM files, and a real SSH client.

import (
	"fmt"
	mathrand "math/rand/v2"
	"os/exec"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// hostLoginLimit bounds one SSH login; a login still running then is hung.
const hostLoginLimit = 30 * time.Second

// hostPasswordAndCode starts sshd as contrib ships it for "password and
// code": totpd-password-and-code.conf and pam.d/sshd-password-and-code.
func hostPasswordAndCode(t *testing.T, module string, d *daemon, overrides ...string) *hostSSHD {
	t.Helper()
	stack := hostContribStack(t, "pam.d/sshd-password-and-code", module, d.Socket, 10)
	return hostStartSSHD(t, stack, hostContribPath(t, "sshd_config.d/totpd-password-and-code.conf"), overrides...)
}

// hostKeyAndCode starts sshd as contrib ships it for "public key and
// code": totpd-key-and-code.conf and pam.d/sshd-key-and-code.
func hostKeyAndCode(t *testing.T, module string, d *daemon) *hostSSHD {
	t.Helper()
	stack := hostContribStack(t, "pam.d/sshd-key-and-code", module, d.Socket, 10)
	return hostStartSSHD(t, stack, hostContribPath(t, "sshd_config.d/totpd-key-and-code.conf"))
}

func TestHostSSHDPasswordAndCode(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "chpasswd")
	d := startDaemon(t, b, config{})
	alice, carol := newUser(t), newUser(t) // carol: not enrolled, not required
	pw := map[string]string{alice.Name: hostPassword(), carol.Name: hostPassword()}
	hostSetPasswords(t, pw)
	e := hostEnroll(t, d, alice)
	s := hostPasswordAndCode(t, module, d)

	// The password, then the code, both in keyboard-interactive.
	step := stableStep(t, 8*time.Second)
	k := &hostKbd{answer: hostAnswers(pw[alice.Name], codeForStep(t, e.Secret, step))}
	r := s.Login(alice.Name, []ssh.AuthMethod{k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	qs := k.Shown()
	require.Contains(t, qs, "Password: ")
	require.Contains(t, qs, "Verification code: ")
	require.Less(t, strings.Index(qs, "Password: "), strings.Index(qs, "Verification code: "))
	audit := strings.Join(hostAudit(d, alice.Name), "\n")
	require.Contains(t, audit, `service="`+s.Service+`"`)
	require.Contains(t, audit, `rhost="127.0.0.1"`)

	// A wrong code: refused, and the client is told.
	k = &hostKbd{answer: hostAnswers(pw[alice.Name], hostWrongCode(t, e.Secret))}
	r = s.Login(alice.Name, []ssh.AuthMethod{k.Method()}, false, hostLoginLimit)
	require.Error(t, r.Err)
	require.Contains(t, k.Shown(), "Wrong verification code.")

	// A wrong password: refused before any code is asked (common-auth's
	// pam_deny is requisite), so the daemon hears nothing.
	before := len(hostAudit(d, alice.Name))
	k = &hostKbd{answer: hostAnswers("not-the-password", "000000")}
	r = s.Login(alice.Name, []ssh.AuthMethod{k.Method()}, false, hostLoginLimit)
	require.Error(t, r.Err)
	require.NotContains(t, k.Shown(), "Verification code: ")
	require.Len(t, hostAudit(d, alice.Name), before)

	// Not enrolled and not required: the password alone.
	k = &hostKbd{answer: hostAnswers(pw[carol.Name])}
	r = s.Login(carol.Name, []ssh.AuthMethod{k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	require.NotContains(t, k.Shown(), "Verification code: ")

	// sshd's own password method is off: it would skip the code.
	r = s.Login(carol.Name, []ssh.AuthMethod{ssh.Password(pw[carol.Name])}, false, hostLoginLimit)
	require.Error(t, r.Err)

	s.RequireNoSessionsLeft(10 * time.Second)
}

func TestHostSSHDKeyAndCode(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t)
	d := startDaemon(t, b, config{})
	signer, authorized := hostClientKey(t)
	other, _ := hostClientKey(t)
	alice, carol := newUser(t), newUser(t) // carol: not enrolled, not required
	hostAuthorizeKey(t, alice, authorized)
	hostAuthorizeKey(t, carol, authorized)
	e := hostEnroll(t, d, alice)
	s := hostKeyAndCode(t, module, d)

	// The key, then only the code: no password is asked.
	step := stableStep(t, 8*time.Second)
	k := &hostKbd{answer: hostAnswers("", codeForStep(t, e.Secret, step))}
	r := s.Login(alice.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	require.Contains(t, k.Shown(), "Verification code: ")
	require.NotContains(t, k.Shown(), "Password")

	// The code alone, without the key, is not enough: keyboard-interactive
	// is not even offered before the key.
	k = &hostKbd{answer: hostAnswers("", codeForStep(t, e.Secret, step+1))}
	r = s.Login(alice.Name, []ssh.AuthMethod{ssh.PublicKeys(other), k.Method()}, false, hostLoginLimit)
	require.Error(t, r.Err)
	require.Empty(t, k.Shown())

	// The key alone is not enough either.
	r = s.Login(alice.Name, []ssh.AuthMethod{ssh.PublicKeys(signer)}, false, hostLoginLimit)
	require.Error(t, r.Err)

	// The key and a wrong code.
	k = &hostKbd{answer: hostAnswers("", hostWrongCode(t, e.Secret))}
	r = s.Login(alice.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.Error(t, r.Err)
	require.Contains(t, k.Shown(), "Wrong verification code.")

	// Not enrolled and not required: the key alone lets carol in
	// (PAM_IGNORE falls through to pam_permit), with no question.
	k = &hostKbd{answer: hostAnswers("")}
	r = s.Login(carol.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	require.NotContains(t, k.Shown(), "Verification code: ")

	// That stack checks no password, so sshd must never run it for its
	// own password method. The drop-in turns that method off by itself,
	// not only through AuthenticationMethods: here another drop-in read
	// first allows any method, and still no password gets carol (who has
	// none) or alice in.
	s2 := hostStartSSHD(t, hostContribStack(t, "pam.d/sshd-key-and-code", module, d.Socket, 10),
		hostContribPath(t, "sshd_config.d/totpd-key-and-code.conf"), "AuthenticationMethods any")
	before := len(hostAudit(d, alice.Name))
	for _, u := range []account{carol, alice} {
		r = s2.Login(u.Name, []ssh.AuthMethod{ssh.Password("any password at all")}, false, hostLoginLimit)
		require.Error(t, r.Err, "%s logged in with a made-up password: %s", u.Name, r.Output)
		require.NotContains(t, s2.Logs(), "Accepted password for "+u.Name)
	}
	require.Len(t, hostAudit(d, alice.Name), before, "no password reached the daemon as a code")

	s.RequireNoSessionsLeft(10 * time.Second)
	s2.RequireNoSessionsLeft(10 * time.Second)
}

// TestHostSSHDPasswordThenKeyboardInteractive is the case ARCHITECTURE.md, "The host matrix"
// says hung a lazily loading module: a client that offers a password
// first and keyboard-interactive next on one connection. With the
// password method, sshd runs the whole auth stack in its monitor process
// itself (with a conversation that answers every hidden question with
// the password); keyboard-interactive then runs it in a child forked from
// that monitor. Had the Go runtime started in the monitor, that child
// would hang.
//
// The shipped drop-in turns PasswordAuthentication off (below is why),
// so both parts put `PasswordAuthentication yes` and an
// AuthenticationMethods line before it (sshd keeps the first value):
//
//  1. `AuthenticationMethods any`, enrolled users, ten at once: five
//     offer the right password first, so pam_unix passes and pam_totpd
//     runs in the monitor, where its code question gets the password and
//     the daemon refuses it (one failure recorded: that is why the shipped
//     drop-in turns the password method off); five offer a wrong one, so
//     common-auth's requisite pam_deny ends the stack before pam_totpd.
//     Then keyboard-interactive, with the password and a code, in the
//     child. (`AuthenticationMethods keyboard-interactive`, the drop-in's,
//     would not do: sshd refuses the password method before PAM.)
//     After that, Linux-PAM's pam_setcred replays the auth stack as the
//     monitor's last pam_authenticate (the failed password one) left it,
//     and fails, so sshd drops the connection after "Accepted
//     keyboard-interactive/pam". That is OpenSSH and Linux-PAM, not
//     pam_totpd: the same stack without pam_totpd (the control below)
//     does the same after a wrong password. So the test requires no
//     hang, the code accepted in the child, the control's outcome after
//     a wrong password, and after a right one (which alone would log in
//     without pam_totpd: no control) a login or that very drop.
//  2. `AuthenticationMethods password,keyboard-interactive`, users in
//     their grace period, ten at once: the password method must succeed,
//     and does, pam_totpd letting them in from the monitor; then
//     keyboard-interactive runs the stack again in the child, and the
//     login completes, command and all.
func TestHostSSHDPasswordThenKeyboardInteractive(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "chpasswd")
	d := startDaemon(t, b, config{Require: "all", GracePeriod: "7d"})
	const n = 10
	enrolled, grace := make([]account, n), make([]account, n)
	secrets := make([]string, n)
	pw := map[string]string{}
	for i := range n {
		enrolled[i], grace[i] = newUser(t), newUser(t)
		pw[enrolled[i].Name], pw[grace[i].Name] = hostPassword(), hostPassword()
	}
	control := newUser(t)
	pw[control.Name] = hostPassword()
	hostSetPasswords(t, pw)
	for i, u := range enrolled {
		secrets[i] = hostEnroll(t, d, u).Secret
	}
	passwordFirst := []string{"PasswordAuthentication yes", "AuthenticationMethods any"}
	both := []string{"PasswordAuthentication yes", "AuthenticationMethods password,keyboard-interactive"}
	s1 := hostPasswordAndCode(t, module, d, passwordFirst...)
	s2 := hostPasswordAndCode(t, module, d, both...)
	// The control: the same stack and config without pam_totpd.
	stack := hostContrib(t, "pam.d/sshd-password-and-code")
	require.Contains(t, stack, "auth    required    pam_totpd.so\n")
	sc := hostStartSSHD(t, strings.Replace(stack, "auth    required    pam_totpd.so\n", "", 1),
		hostContribPath(t, "sshd_config.d/totpd-password-and-code.conf"), passwordFirst...)

	type login struct {
		r hostSSHResult
		k *hostKbd
	}
	run := func(s *hostSSHD, u account, offered, code string) func() login {
		k := &hostKbd{answer: hostAnswers(pw[u.Name], code)}
		if code == "" {
			k.answer = hostAnswers(pw[u.Name])
		}
		return func() login {
			return login{s.Login(u.Name, []ssh.AuthMethod{ssh.Password(offered), k.Method()}, false, hostLoginLimit), k}
		}
	}
	var jobs []func() login
	for i, u := range enrolled {
		offered := pw[u.Name]
		if i%2 == 1 {
			offered = "wrong-" + offered
		}
		jobs = append(jobs, run(s1, u, offered, codeAt(t, secrets[i], time.Now())))
	}
	for _, u := range grace {
		jobs = append(jobs, run(s2, u, pw[u.Name], ""))
	}
	jobs = append(jobs, run(sc, control, "wrong-"+pw[control.Name], ""))
	results := make([]login, len(jobs))
	var wg sync.WaitGroup
	for i, job := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = job()
		}()
	}
	wg.Wait()
	ctl := results[len(results)-1]
	t.Logf("control (no pam_totpd), wrong password then keyboard-interactive: %v", ctl.r.Err)
	require.Contains(t, sc.Logs(), "Failed password for "+control.Name+" ")
	require.Contains(t, sc.Logs(), "Accepted keyboard-interactive/pam for "+control.Name+" ")

	// Part 1.
	logs := s1.Logs()
	dropped := 0
	for i, u := range enrolled {
		r := results[i]
		what := fmt.Sprintf("login %d (%s) after a %s password; shown:\n%s", i, u.Name, map[bool]string{true: "right", false: "wrong"}[i%2 == 0], r.k.Shown())
		require.Less(t, r.r.Elapsed, hostLoginLimit, what)
		require.Contains(t, logs, "Failed password for "+u.Name+" ", "the client offered the password method first")
		require.Contains(t, logs, "Accepted keyboard-interactive/pam for "+u.Name+" ", what)
		require.Contains(t, r.k.Shown(), "Verification code: ", what)
		audit := strings.Join(hostAudit(d, u.Name), "\n")
		require.Contains(t, audit, `reason="login code accepted"`, what)
		if i%2 == 0 {
			require.Contains(t, audit, `reason="malformed code"`, "the password method ran pam_totpd in the monitor")
		} else {
			require.NotContains(t, audit, `reason="malformed code"`)
			require.Equal(t, ctl.r.Err == nil, r.r.Err == nil, "as without pam_totpd: %v; %s", r.r.Err, what)
		}
		if r.r.Err != nil {
			dropped++
		}
	}
	require.Equal(t, dropped, strings.Count(logs, "PAM: pam_setcred(): "), "every login dropped after its code was accepted is pam_setcred's")

	// Part 2.
	logs = s2.Logs()
	for i, u := range grace {
		r := results[n+i]
		require.NoError(t, r.r.Err, "login %d (%s); shown:\n%s", i, u.Name, r.k.Shown())
		require.Contains(t, logs, "Partial password for "+u.Name+" ", "the password method passed first")
		require.Contains(t, logs, "Accepted keyboard-interactive/pam for "+u.Name+" ")
		require.Equal(t, 2, strings.Count(strings.Join(hostAudit(d, u.Name), "\n"), `login.query user="`+u.Name+`" result=allowed`),
			"pam_totpd ran for both methods: in the monitor, then in its child")
		require.Contains(t, r.r.Banner, "A verification code will be required for "+u.Name)
	}

	for _, s := range []*hostSSHD{s1, s2, sc} {
		s.RequireNoSessionsLeft(10 * time.Second)
	}
}

// TestHostSSHDConcurrentLogins is 300 logins, 10 at a time, across 50
// users, through publickey + keyboard-interactive: zero failures and
// zero hung sessions. Each user's codes are used once: a TOTP code of the
// step current when its login starts (valid for that step and the next,
// whatever the timing), and then recovery codes, which do not depend on
// time at all.
func TestHostSSHDConcurrentLogins(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t)
	d := startDaemon(t, b, config{})
	signer, authorized := hostClientKey(t)
	const nUsers, perUser, workers = 50, 6, 10

	type job struct {
		user     account
		secret   string // set: a TOTP login
		recovery string // else: this recovery code
	}
	var jobs []job
	for range nUsers {
		u := newUser(t)
		hostAuthorizeKey(t, u, authorized)
		e := hostEnroll(t, d, u)
		require.GreaterOrEqual(t, len(e.RecoveryCodes), perUser-1)
		jobs = append(jobs, job{user: u, secret: e.Secret})
		for _, rc := range e.RecoveryCodes[:perUser-1] {
			jobs = append(jobs, job{user: u, recovery: rc})
		}
	}
	mathrand.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	s := hostKeyAndCode(t, module, d)

	type outcome struct {
		elapsed time.Duration
		err     error
		who     string
	}
	outcomes := make(chan outcome, len(jobs))
	queue := make(chan job)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range queue {
				code := j.recovery
				if j.secret != "" {
					out, err := exec.Command("oathtool", "--totp", "-b", j.secret).Output()
					if err != nil {
						outcomes <- outcome{err: err, who: j.user.Name}
						continue
					}
					code = strings.TrimSpace(string(out))
				}
				k := &hostKbd{answer: hostAnswers("", code)}
				r := s.Login(j.user.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
				if r.Err != nil {
					r.Err = fmt.Errorf("%w; shown: %q", r.Err, k.Shown())
				}
				outcomes <- outcome{elapsed: r.Elapsed, err: r.Err, who: j.user.Name}
			}
		}()
	}
	for _, j := range jobs {
		queue <- j
	}
	close(queue)
	wg.Wait()
	wall := time.Since(start)
	close(outcomes)

	var times []time.Duration
	var failures []string
	for o := range outcomes {
		if o.err != nil {
			failures = append(failures, fmt.Sprintf("%s: %v", o.who, o.err))
			continue
		}
		times = append(times, o.elapsed)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	if len(times) > 0 {
		t.Logf("%d sshd logins (publickey + keyboard-interactive, command run), %d at a time: wall %v, per login p50 %v, p90 %v, max %v",
			len(jobs), workers, wall.Round(time.Millisecond), times[len(times)/2].Round(time.Millisecond),
			times[len(times)*9/10].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond))
	}
	require.Empty(t, failures, "%d of %d logins failed", len(failures), len(jobs))
	require.Len(t, times, nUsers*perUser)
	s.RequireNoSessionsLeft(15 * time.Second)

	// The daemon accepted exactly one code per login.
	accepted := strings.Count(d.Stderr(), `result=ok reason="login code accepted" caller="root" service="`+s.Service+`"`)
	recovered := strings.Count(d.Stderr(), `result=ok reason="login recovery code accepted" caller="root" service="`+s.Service+`"`)
	require.Equal(t, nUsers, accepted)
	require.Equal(t, nUsers*(perUser-1), recovered)
}

func TestHostSSHDEnrollAtLogin(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t)
	d := startDaemon(t, b, config{Require: "all", GracePeriod: "0s", EnrollAtLogin: true})
	signer, authorized := hostClientKey(t)
	u := newUser(t)
	hostAuthorizeKey(t, u, authorized)
	s := hostKeyAndCode(t, module, d)

	keyLine := regexp.MustCompile(`(?:or type this key|Add this key to your authenticator app): ([A-Z2-7 ]+)\n`)
	var secret string
	var recovery []string
	k := &hostKbd{answer: func(q string) (string, error) {
		switch {
		case strings.HasSuffix(q, "Code from the app: "):
			m := keyLine.FindStringSubmatch(q)
			if m == nil {
				return "", fmt.Errorf("no key in %q", q)
			}
			secret = strings.ReplaceAll(m[1], " ", "")
			out, err := exec.Command("oathtool", "--totp", "-b", secret).Output()
			return strings.TrimSpace(string(out)), err
		case strings.HasSuffix(q, "Press Enter once you have written them down: "):
			for _, l := range strings.Split(q, "\n") {
				if strings.HasPrefix(l, "  ") && strings.TrimSpace(l) != "" {
					recovery = append(recovery, strings.TrimSpace(l))
				}
			}
			return "", nil
		}
		return "", fmt.Errorf("unexpected question %q", q)
	}}
	r := s.Login(u.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	shown := k.Shown()
	t.Logf("the enrollment as the SSH client saw it:\n%s", shown)
	require.Contains(t, shown, "A verification code is required for "+u.Name+" and none is set up yet.")
	require.Contains(t, shown, "Scan this QR code")
	require.Contains(t, shown, "otpauth://totp/")
	require.Contains(t, shown, "secret="+secret)
	require.NotEmpty(t, secret)

	st := d.Show(u.Name)
	require.True(t, st.Enrolled, "enrolled at login")
	require.Len(t, recovery, st.RecoveryCodesLeft, "every recovery code was shown: %q", recovery)
	require.NotEmpty(t, recovery)

	// The enrollment holds: the next login asks for a code, and one of the
	// recovery codes shown is accepted.
	k = &hostKbd{answer: hostAnswers("", recovery[0])}
	r = s.Login(u.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.NoError(t, r.Err, "shown:\n%s", k.Shown())
	require.Contains(t, k.Shown(), "Verification code: ")
	require.Contains(t, r.Banner, "Recovery code used")
	s.RequireNoSessionsLeft(10 * time.Second)
}

// TestHostSSHDMessages checks that what the daemon tells a person reaches
// the SSH client: the grace reminder (in the banner sshd sends after a
// successful keyboard-interactive, and on a terminal), the refusal past
// the deadline and the lockout (in the keyboard-interactive instruction).
func TestHostSSHDMessages(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t)
	d := startDaemon(t, b, config{Require: "all", GracePeriod: "7d", MaxFailures: 2, LockoutDuration: "15m"})
	signer, authorized := hostClientKey(t)
	grace, late, bob := newUser(t), newUser(t), newUser(t)
	for _, u := range []account{grace, late, bob} {
		hostAuthorizeKey(t, u, authorized)
	}
	e := hostEnroll(t, d, bob)
	// (Not --grace 0s: the daemon takes 0s as "the configured grace_period".)
	d.CtlOK(nil, "user", "require", late.Name, "--grace", "1s")
	s := hostKeyAndCode(t, module, d)
	testutils.WaitFor(t, 10*time.Second, late.Name+"'s 1s grace period to end", func() bool {
		return d.Query(late.Name).Action == wire.ActionDeny
	})
	auth := func(k *hostKbd) []ssh.AuthMethod { return []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()} }

	// In grace: in, and reminded, both as a command runs and at a terminal.
	reminder := "A verification code will be required for " + grace.Name + " from "
	for _, pty := range []bool{false, true} {
		k := &hostKbd{answer: hostAnswers("")}
		r := s.Login(grace.Name, auth(k), pty, hostLoginLimit)
		require.NoError(t, r.Err, "shown:\n%s", k.Shown())
		require.Contains(t, r.Banner+k.Shown(), reminder)
		require.Contains(t, r.Banner+k.Shown(), "totpctl enroll")
		if pty {
			require.Contains(t, r.Output, reminder, "on a terminal")
		}
	}

	// Past the deadline: refused, and told what to do.
	k := &hostKbd{answer: hostAnswers("")}
	r := s.Login(late.Name, auth(k), false, hostLoginLimit)
	require.Error(t, r.Err)
	require.Contains(t, k.Shown(), "A verification code is required for "+late.Name+" since ")
	require.Contains(t, k.Shown(), "totpctl user enroll "+late.Name)

	// Two wrong codes lock bob (max_failures = 2); each refusal says why.
	wrong := hostWrongCode(t, e.Secret)
	k = &hostKbd{answer: hostAnswers("", wrong)}
	r = s.Login(bob.Name, auth(k), false, hostLoginLimit)
	require.Error(t, r.Err)
	require.Contains(t, k.Shown(), "Wrong verification code.")
	k = &hostKbd{answer: hostAnswers("", wrong)}
	r = s.Login(bob.Name, auth(k), false, hostLoginLimit)
	require.Error(t, r.Err)
	require.Contains(t, k.Shown(), "Wrong verification code.")
	require.Contains(t, k.Shown(), "Too many wrong codes")
	// Locked: refused up front, without a question, with the lock explained.
	k = &hostKbd{answer: hostAnswers("", codeAt(t, e.Secret, time.Now()))}
	r = s.Login(bob.Name, auth(k), false, hostLoginLimit)
	require.Error(t, r.Err)
	require.NotContains(t, k.Shown(), "Verification code: ")
	require.Contains(t, k.Shown(), "Too many wrong codes: the account "+bob.Name+" is locked until ")
	require.Contains(t, k.Shown(), "totpctl user unlock "+bob.Name)
	s.RequireNoSessionsLeft(10 * time.Second)
}
