package e2e

// An OpenSSH sshd of the test's own, and a real SSH client
// (golang.org/x/crypto/ssh), for host 2 of ARCHITECTURE.md, "The host matrix".

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/proctree"
	"github.com/totpd/totpd/e2e/testutils"
)

// hostSSHD is one sshd run by a test.
type hostSSHD struct {
	t       *testing.T
	Service string // its PAM service, /etc/pam.d/<Service>
	Addr    string // 127.0.0.1:port
	HostKey ssh.PublicKey
	Config  string // the sshd_config it runs with
	sshd    *hostkit.SSHD
	logs    *testutils.LockedBuffer
}

// hostStartSSHD starts sshd on a loopback port with stack (an adapted
// contrib/pam.d file) as its PAM service and dropIn (a contrib
// sshd_config.d file, by path) included as shipped. overrides come first
// in the config: sshd keeps the first value it reads for a keyword, so
// they win over the drop-in.
//
// OpenSSH names its PAM service after argv[0]: sshd runs through a
// symlink /tmp/…/totpd-e2e-sshd-XXXXXX → /usr/sbin/sshd (absolute, as
// sshd's re-exec wants; hostkit.StartSSHD), so its service is
// /etc/pam.d/totpd-e2e-sshd-XXXXXX and /etc/pam.d/sshd is never read.
func hostStartSSHD(t *testing.T, stack, dropIn string, overrides ...string) *hostSSHD {
	t.Helper()
	requireTools(t, hostkit.SSHDBinary, "ssh-keygen")
	s := &hostSSHD{t: t, Service: hostService(t, "sshd", stack), logs: &testutils.LockedBuffer{}}
	sshd, err := hostkit.StartSSHD(hostkit.SSHDOptions{
		Dir:       t.TempDir(),
		Service:   s.Service,
		DropIn:    dropIn,
		Overrides: overrides,
		Comment:   "sshd for the totpd e2e tests, PAM service " + s.Service,
		Env:       hostEnv(),
		Output:    s.logs,
	})
	require.NoError(t, err, "starting sshd; its log:\n%s", s.logs.String())
	s.sshd, s.Addr, s.Config = sshd, sshd.Addr, sshd.Config
	t.Cleanup(s.stop)
	s.HostKey, err = sshd.HostPublicKey()
	require.NoError(t, err)
	return s
}

// Pid reports the listening sshd's pid.
func (s *hostSSHD) Pid() int { return s.sshd.Pid() }

// Logs reports what sshd wrote.
func (s *hostSSHD) Logs() string { return s.logs.String() }

// RequireNoSessionsLeft waits until no process started by this sshd is
// left (every client has gone, so every connection's sshd must end too):
// one still there after the deadline is a hung session.
func (s *hostSSHD) RequireNoSessionsLeft(timeout time.Duration) {
	s.t.Helper()
	if left := proctree.WaitGone(s.Pid(), timeout); len(left) > 0 {
		s.t.Fatalf("%d sshd processes still running %v after every client finished (hung sessions):\n%s",
			len(left), timeout, hostDescribe(left))
	}
}

// stop ends sshd (SIGTERM, then SIGKILL), and kills by pid whatever
// processes of its own it left behind, saying so.
func (s *hostSSHD) stop() {
	left, killed := s.sshd.Stop(10 * time.Second)
	if killed {
		s.t.Errorf("sshd did not stop within 10s of SIGTERM; killed it")
	}
	if len(left) > 0 && !s.t.Failed() {
		s.t.Errorf("sshd processes left at the end of the test, killed:\n%s", hostDescribe(left))
	}
	if s.t.Failed() {
		s.t.Logf("sshd config:\n%s\nsshd log:\n%s", s.Config, s.logs.String())
	}
}

// ---------------------------------------------------------------------
// The client

// hostAnswers answers "Password:" with password and each code question
// with the next of codes, in order; any other question is an error.
func hostAnswers(password string, codes ...string) func(string) (string, error) {
	var mu sync.Mutex
	return func(q string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case strings.HasSuffix(q, "Password: ") && password != "":
			return password, nil
		case strings.HasSuffix(q, "Verification code: ") && len(codes) > 0:
			c := codes[0]
			codes = codes[1:]
			return c, nil
		}
		return "", fmt.Errorf("unexpected question %q", q)
	}
}

// hostKbdLog is one keyboard-interactive round as the client saw it.
type hostKbdLog struct {
	Instruction string
	Questions   []string
}

// hostKbd answers sshd's keyboard-interactive questions with answer and
// records every round: what sshd showed the person.
type hostKbd struct {
	answer func(question string) (string, error)

	mu     sync.Mutex
	Rounds []hostKbdLog
}

func (k *hostKbd) challenge(name, instruction string, questions []string, echos []bool) ([]string, error) {
	k.mu.Lock()
	k.Rounds = append(k.Rounds, hostKbdLog{Instruction: instruction, Questions: append([]string(nil), questions...)})
	k.mu.Unlock()
	answers := make([]string, len(questions))
	for i, q := range questions {
		a, err := k.answer(q)
		if err != nil {
			return nil, err
		}
		answers[i] = a
	}
	return answers, nil
}

// Method reports k as an ssh.AuthMethod.
func (k *hostKbd) Method() ssh.AuthMethod { return ssh.KeyboardInteractive(k.challenge) }

// Shown reports everything the client was shown, instructions and questions, in order.
func (k *hostKbd) Shown() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var b strings.Builder
	for _, r := range k.Rounds {
		if r.Instruction != "" {
			b.WriteString(r.Instruction + "\n")
		}
		for _, q := range r.Questions {
			b.WriteString(q + "\n")
		}
	}
	return b.String()
}

// hostSSHResult is what one SSH login did.
type hostSSHResult struct {
	Err     error  // nil: authenticated and the command ran
	Output  string // the session's output
	Banner  string
	Elapsed time.Duration
}

// hostClientKey makes an ed25519 key for the client: the signer, and the
// authorized_keys line.
func hostClientKey(t *testing.T) (ssh.Signer, []byte) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	signer, err := ssh.NewSignerFromKey(priv)
	require.NoError(t, err)
	return signer, ssh.MarshalAuthorizedKey(signer.PublicKey())
}

// hostLoginMarker is what the session prints to prove the login got a shell.
const hostLoginMarker = "TOTPD-E2E-LOGGED-IN-AS:"

// Login connects as user with auth, and on success runs a command that
// prints hostLoginMarker and the user name (or, with pty, an interactive
// shell that is told to do so and exit, so that sshd shows what a person
// at a terminal would see). The whole login is bounded by limit.
func (s *hostSSHD) Login(user string, auth []ssh.AuthMethod, pty bool, limit time.Duration) hostSSHResult {
	start := time.Now()
	r := hostSSHResult{}
	r.Output, r.Banner, r.Err = s.login(user, auth, pty, limit)
	r.Elapsed = time.Since(start)
	if r.Err == nil && !strings.Contains(r.Output, hostLoginMarker+user) {
		r.Err = fmt.Errorf("the session did not print %q: %q", hostLoginMarker+user, r.Output)
	}
	return r
}

func (s *hostSSHD) login(user string, auth []ssh.AuthMethod, pty bool, limit time.Duration) (string, string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr, limit)
	if err != nil {
		return "", "", err
	}
	defer conn.Close()
	// One deadline on the whole connection: a hung sshd fails the login
	// instead of hanging the test.
	if err := conn.SetDeadline(time.Now().Add(limit)); err != nil {
		return "", "", err
	}
	var banner strings.Builder
	cc, chans, reqs, err := ssh.NewClientConn(conn, s.Addr, &ssh.ClientConfig{
		User:            user,
		Auth:            auth,
		HostKeyCallback: ssh.FixedHostKey(s.HostKey),
		BannerCallback:  func(m string) error { banner.WriteString(m); return nil },
	})
	if err != nil {
		return "", banner.String(), err
	}
	client := ssh.NewClient(cc, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return "", banner.String(), err
	}
	defer sess.Close()
	var out testutils.LockedBuffer // stdout and stderr are copied by two goroutines
	sess.Stdout, sess.Stderr = &out, &out
	cmd := "echo " + hostLoginMarker + "$USER" // $USER: set by sshd from the account, costs no process
	if !pty {
		err = sess.Run(cmd)
		return out.String(), banner.String(), err
	}
	if err := sess.RequestPty("xterm", 40, 120, ssh.TerminalModes{ssh.ECHO: 0}); err != nil {
		return "", banner.String(), err
	}
	sess.Stdin = strings.NewReader(cmd + "; exit\n")
	if err := sess.Shell(); err != nil {
		return "", banner.String(), err
	}
	err = sess.Wait()
	return out.String(), banner.String(), err
}
