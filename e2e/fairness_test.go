package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/totpd/totpd/e2e/testutils"
)

// TestFairnessFlood is the fairness rule (ARCHITECTURE.md) against a real
// hostile user: mallory (no privileges) holds and re-opens 3,000
// connections to the daemon's socket, half idle and half trickling a
// byte every 500 ms, for 20 s. Meanwhile root runs 20 pamtester logins
// and 10 sshd logins of enrolled users, every one of which must succeed,
// and another user's `totpctl status` answers.
func TestFairnessFlood(t *testing.T) {
	b, module := hostSetup(t, "pamtester")
	d := startDaemon(t, b, config{})
	svc := hostPamtesterService(t, module, d.Socket, 10)
	s := hostKeyAndCode(t, module, d)
	signer, authorized := hostClientKey(t)
	mallory, alice := newUser(t), newUser(t)
	const pamLogins, sshLogins = 20, 10
	users := make([]account, pamLogins+sshLogins)
	secrets := make([]string, len(users))
	for i := range users {
		users[i] = newUser(t)
		secrets[i] = hostEnroll(t, d, users[i]).Secret
	}
	for _, u := range users[pamLogins:] {
		hostAuthorizeKey(t, u, authorized)
	}

	const conns = 3000
	flood := exec.Command(b.Flood, "-socket", d.Socket, "-conns", fmt.Sprint(conns), "-for", "20s", "-trickle", "500ms")
	flood.SysProcAttr = &syscall.SysProcAttr{Credential: mallory.credential(), Setpgid: true}
	out, err := flood.StdoutPipe()
	require.NoError(t, err)
	var errb testutils.LockedBuffer
	flood.Stderr = &errb
	require.NoError(t, flood.Start())
	floodDone, readDone := make(chan struct{}), make(chan struct{})
	lines := make(chan string, 16)
	go func() {
		defer close(readDone)
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	go func() {
		<-readDone // Wait closes the pipe: only after everything was read
		_ = flood.Wait()
		close(floodDone)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-flood.Process.Pid, syscall.SIGKILL)
	})

	// Wait until every one of mallory's connections has been opened.
	select {
	case l := <-lines:
		require.Equal(t, fmt.Sprintf("dialled %d", conns), l, "flood: %s", errb.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("mallory never opened her %d connections: %s", conns, errb.String())
	}
	started := time.Now()

	var pamTimes, sshTimes []time.Duration
	step := stableStep(t, 12*time.Second)
	for i := 0; i < pamLogins; i++ {
		r := hostPamtester(t, svc, users[i].Name, codeForStep(t, secrets[i], step)+"\n", 30*time.Second)
		requireHostSuccess(t, r, false)
		pamTimes = append(pamTimes, r.Elapsed)
	}
	for i := pamLogins; i < len(users); i++ {
		k := &hostKbd{answer: hostAnswers("", codeForStep(t, secrets[i], step))}
		r := s.Login(users[i].Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
		require.NoError(t, r.Err, "sshd login %d of %s while mallory floods; shown:\n%s", i-pamLogins, users[i].Name, k.Shown())
		sshTimes = append(sshTimes, r.Elapsed)
	}
	st := d.CtlAs(alice, "status")
	require.Zero(t, st.Code, "alice's totpctl status while mallory floods: %s", st)
	elapsed := time.Since(started)

	// All of that happened while the flood was still on.
	select {
	case <-floodDone:
		t.Fatalf("the flood ended before the logins did (after %v): the test proved nothing", elapsed)
	default:
	}
	t.Logf("while mallory held %d connections: pamtester logins %s; sshd logins %s (all within %v)",
		conns, spread(pamTimes), spread(sshTimes), elapsed.Round(time.Millisecond))

	select {
	case <-floodDone:
	case <-time.After(30 * time.Second):
		t.Fatal("the flood did not stop by itself after 20 s")
	}
	var stats string
	for l := range lines {
		stats = l
	}
	t.Logf("mallory's flood: %s", stats)
	require.Contains(t, stats, "dials=", "flood: %s", errb.String())
	d.Alive()
}

// spread reports the median and the slowest of ds.
func spread(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return "none"
	}
	return fmt.Sprintf("%d, median %v, slowest %v", len(s), s[len(s)/2].Round(time.Millisecond), s[len(s)-1].Round(time.Millisecond))
}
