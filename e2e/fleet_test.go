package e2e

// Fleet mode (PRODUCT.md §8, issue 13) with a real 3-member etcd and
// totpd hosts on it: one enrollment for every host, a code accepted once
// across hosts, one lockout across hosts.

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/ssh"

	"github.com/totpd/totpd/daemon/wire"
)

// TestFleetEnrollOnALoginOnB: users enrolled on host A log in on host B,
// through the wire protocol, through pamtester and through a real sshd
// (public key and keyboard-interactive) whose PAM stack points at B's
// socket; each code is then refused on A once B took it: one
// enrollment, one replay rule, across hosts.
func TestFleetEnrollOnALoginOnB(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "etcd", "pamtester")
	f := startFleet(t, b, fleetOptions{StderrAudit: true})
	a, bh := f.hosts[0], f.hosts[1]
	alice, bob, carol := newUser(t), newUser(t), newUser(t)
	ea, eb, ec := a.Enroll(alice.Name), a.Enroll(bob.Name), a.Enroll(carol.Name)
	signer, authorized := hostClientKey(t)
	hostAuthorizeKey(t, carol, authorized)
	svc := hostPamtesterService(t, module, bh.Socket, 5)
	s := hostKeyAndCode(t, module, bh)
	require.True(t, bh.Show(alice.Name).Enrolled, "B sees the enrollment made on A")

	step := stableStep(t, 2*time.Second)

	// The wire protocol.
	code := codeForStep(t, ea.Secret, step)
	_, err := bh.Verify(alice.Name, code)
	require.NoError(t, err, "a code of the enrollment made on A works on B")
	_, err = a.Verify(alice.Name, code)
	requireReplayRefused(t, err, "alice's code on A once B took it")

	// pamtester on B.
	code = codeForStep(t, eb.Secret, step)
	r := hostPamtester(t, svc, bob.Name, code+"\n", 30*time.Second)
	requireHostSuccess(t, r, false)
	waitAudit(bh, bob.Name, 5*time.Second, "result=ok", `service="`+svc+`"`) // B decided the pamtester login
	_, err = a.Verify(bob.Name, code)
	requireReplayRefused(t, err, "bob's pamtester code on A")
	r = hostPamtester(t, svc, bob.Name, code+"\n", 30*time.Second)
	requireHostRefused(t, r, hostPtAuthErr)
	require.Contains(t, r.Out(), "already used")

	// sshd on B: the key, then the code in keyboard-interactive.
	code = codeForStep(t, ec.Secret, step)
	k := &hostKbd{answer: hostAnswers("", code)}
	lr := s.Login(carol.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.NoError(t, lr.Err, "carol's sshd login on B; shown:\n%s", k.Shown())
	require.Contains(t, k.Shown(), "Verification code: ")
	waitAudit(bh, carol.Name, 5*time.Second, "result=ok", `service="`+s.Service+`"`) // B decided the sshd login
	_, err = a.Verify(carol.Name, code)
	requireReplayRefused(t, err, "carol's sshd code on A")
	k = &hostKbd{answer: hostAnswers("", code)}
	lr = s.Login(carol.Name, []ssh.AuthMethod{ssh.PublicKeys(signer), k.Method()}, false, hostLoginLimit)
	require.Error(t, lr.Err, "the same code again through sshd")
	require.Contains(t, k.Shown(), "already used")

	s.RequireNoSessionsLeft(10 * time.Second)
}

// TestFleetExactlyOnce: the same code sent to host A and host B at the
// same instant (both calls released by one barrier), 50 times, a fresh
// user and code each round: exactly one host accepts it each time, and
// the other refuses it as used.
func TestFleetExactlyOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, "etcd")
	f := startFleet(t, b, fleetOptions{})
	const rounds = 50
	users := make([]account, rounds)
	secrets := make([]string, rounds)
	enrolling := time.Now()
	for i := range users {
		users[i] = newUser(t)
		secrets[i] = f.hosts[i%2].Enroll(users[i].Name).Secret // enrolled on A and B in turn
	}
	t.Logf("%d users enrolled with totpctl on A and B in turn in %v", rounds, time.Since(enrolling).Round(time.Millisecond))
	step := stableStep(t, 2*time.Second)
	codes := make([]string, rounds)
	for i := range codes {
		codes[i] = codeForStep(t, secrets[i], step)
	}

	good := 0
	wins := [2]int{}
	refusals := map[string]int{}
	var bad []string
	started := time.Now()
	for i := range rounds {
		var errs [2]error
		var ready, done sync.WaitGroup
		barrier := make(chan struct{})
		for h := range 2 {
			ready.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				ready.Done()
				<-barrier
				_, errs[h] = f.hosts[h].Verify(users[i].Name, codes[i])
			}()
		}
		ready.Wait()
		close(barrier)
		done.Wait()
		ok := 0
		for h, err := range errs {
			if err == nil {
				ok++
				wins[h]++
			} else {
				refusals[errCode(err)]++
			}
		}
		if ok == 1 {
			good++
			loser := errs[0]
			if loser == nil {
				loser = errs[1]
			}
			if errCode(loser) != wire.ErrCodeDenied || !strings.Contains(loser.Error(), "already used") {
				bad = append(bad, fmt.Sprintf("round %d: the other host refused with %v, not as a replay", i, loser))
			}
		} else {
			bad = append(bad, fmt.Sprintf("round %d: %d successes (A: %v, B: %v)", i, ok, errs[0], errs[1]))
		}
	}
	t.Logf("exactly-once: %d/%d rounds had exactly one success (A won %d, B won %d; refusals by code %v) in %v",
		good, rounds, wins[0], wins[1], refusals, time.Since(started).Round(time.Millisecond))
	require.Empty(t, bad)
	require.Equal(t, rounds, good)
}

// TestFleetLockoutAcrossHosts: with max_failures = 3, two wrong codes on
// A and one on B lock the user on both hosts, even for the right code;
// `totpctl user unlock` on B unlocks everywhere, and the right code then
// works on A.
func TestFleetLockoutAcrossHosts(t *testing.T) {
	t.Parallel()
	b := setup(t, "etcd")
	f := startFleet(t, b, fleetOptions{Config: config{MaxFailures: 3, LockoutDuration: "15m"}})
	a, bh := f.hosts[0], f.hosts[1]
	u := newUser(t)
	e := a.Enroll(u.Name)
	wrong := hostWrongCode(t, e.Secret)

	for i := 1; i <= 2; i++ {
		_, err := a.Verify(u.Name, wrong)
		require.Equal(t, wire.ErrCodeDenied, errCode(err), "wrong code %d on A: %v", i, err)
	}
	s := bh.Show(u.Name)
	require.Equal(t, 2, s.Failures, "B counts A's failures")
	require.False(t, s.Locked, "two failures do not lock")

	_, err := bh.Verify(u.Name, wrong)
	require.Error(t, err, "the third wrong code, on B")
	for _, h := range []*daemon{a, bh} {
		s := h.Show(u.Name)
		require.True(t, s.Locked, "locked on %s after failures on both hosts", h.Socket)
		require.Equal(t, 3, s.Failures)
	}

	step := stableStep(t, 2*time.Second)
	code := codeForStep(t, e.Secret, step)
	for _, h := range []*daemon{a, bh} {
		_, err := h.Verify(u.Name, code)
		require.Equal(t, wire.ErrCodeLocked, errCode(err), "the right code on %s while locked: %v", h.Socket, err)
	}

	bh.CtlOK(nil, "user", "unlock", u.Name)
	s = a.Show(u.Name)
	require.False(t, s.Locked, "unlocked on B, so on A too")
	require.Zero(t, s.Failures)
	_, err = a.Verify(u.Name, code)
	require.NoError(t, err, "the right code on A after the unlock on B")
}
