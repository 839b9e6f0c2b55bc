package e2e

// Fleet mode when etcd is not all there (PRODUCT.md §8): one member
// down changes nothing; all of etcd down, a host decides logins from its
// own copy (offline = "local") and writes them back when etcd returns, or
// refuses them as unavailable (offline = "deny") within timeout + 1 s.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// TestFleetMemberKilled: the etcd leader is killed (SIGKILL) between
// logins; every login on either host, right after the kill (while the
// two members left elect a new leader) and after, succeeds, decided by
// etcd (none offline), and each code is at once refused on the other
// host: losing a member opens no replay window. timeout is 5 s, above
// the time an election takes (1 to 2 election timeouts of 1 s; measured
// here at 1.0 to 1.6 s, once over 2 s on two busy CPUs): past the
// timeout a host goes offline, and a code it accepts offline is refused
// elsewhere only after its write-back.
func TestFleetMemberKilled(t *testing.T) {
	t.Parallel()
	b := setup(t, "etcd")
	f := startFleet(t, b, fleetOptions{StderrAudit: true, Cluster: []string{`timeout = "5s"`}})
	const before, during, after = 2, 8, 4
	n := before + during + after
	users := make([]account, n)
	secrets := make([]string, n)
	for i := range users {
		users[i] = newUser(t)
		secrets[i] = hostEnroll(t, f.hosts[i%2], users[i]).Secret
	}
	leader := etcdLeader(t, f.etcd)
	step := stableStep(t, 2*time.Second)
	codes := make([]string, n)
	for i := range codes {
		codes[i] = codeForStep(t, secrets[i], step)
	}

	var times []string
	login := func(i int) {
		t.Helper()
		h, other := f.hosts[i%2], f.hosts[(i+1)%2]
		start := time.Now()
		_, err := h.Verify(users[i].Name, codes[i])
		times = append(times, time.Since(start).Round(time.Millisecond).String())
		require.NoError(t, err, "login %d of %d (host %d), %v after the start", i+1, n, i%2, time.Since(start))
		_, err = other.Verify(users[i].Name, codes[i])
		requireReplayRefused(t, err, "login %d's code on the other host", i+1)
	}
	for i := range before {
		login(i)
	}
	f.etcd.Kill(leader)
	killed := time.Now()
	for i := before; i < before+during; i++ {
		login(i)
	}
	duringFor := time.Since(killed)
	require.NoError(t, f.etcd.WaitHealthy(time.Now().Add(30*time.Second)), "the two members left serve")
	for i := before + during; i < n; i++ {
		login(i)
	}

	last := users[n-1]
	waitAudit(f.hosts[n%2], last.Name, 5*time.Second, "login.verify", "result=denied") // every line is in
	for i, u := range users {
		for _, h := range f.hosts {
			require.Empty(t, auditLines(h, u.Name, "offline=true"), "login %d: no decision made offline", i+1)
		}
	}
	for _, h := range f.hosts {
		require.True(t, clusterStatus(h).Online)
	}
	t.Logf("leader (member %d) killed: %d logins before, %d in the %v after, %d once the two left were healthy, "+
		"all accepted by etcd and refused on the other host; times %s",
		leader, before, during, duringFor.Round(time.Millisecond), after, strings.Join(times, " "))
}

// TestFleetOfflineLocal: with all of etcd killed and offline = "local",
// host A decides an enrolled user's login from its copy (audited
// offline=true) and refuses the code's replay; it refuses an enrollment,
// which needs the cluster; its cluster status says offline with one user
// pending, and B, asked nothing, says offline too. Once etcd is back, A writes its decision back (online, nothing
// pending) and the code A accepted offline is refused on B.
func TestFleetOfflineLocal(t *testing.T) {
	t.Parallel()
	b := setup(t, "etcd")
	f := startFleet(t, b, fleetOptions{Cluster: []string{`timeout = "500ms"`}, StderrAudit: true})
	a, bh := f.hosts[0], f.hosts[1]
	u, w, v := newUser(t), newUser(t), newUser(t) // v: enrolled offline, so never
	e, ew := a.Enroll(u.Name), a.Enroll(w.Name)
	step := stableStep(t, 2*time.Second)
	_, err := a.Verify(w.Name, codeForStep(t, ew.Secret, step))
	require.NoError(t, err, "a login online")
	waitAudit(a, w.Name, 5*time.Second, "login.verify", "result=ok")
	require.Empty(t, auditLines(a, w.Name, "offline=true"), "an online decision is not marked offline")

	f.KillEtcd()
	code := codeForStep(t, e.Secret, step)
	_, err = a.Verify(u.Name, code)
	require.NoError(t, err, "an enrolled user logs in on A with etcd down")
	line := waitAudit(a, u.Name, 5*time.Second, "login.verify", "result=ok", "offline=true")
	t.Logf("A's audit: %s", line)
	_, err = a.Verify(u.Name, code)
	requireReplayRefused(t, err, "the code's replay on A, offline")
	waitAudit(a, u.Name, 5*time.Second, "login.verify", "result=denied", "offline=true") // the refusal is an offline decision too

	r := a.Ctl("user", "enroll", v.Name, "--json")
	require.Equal(t, 1, r.Code, "an enrollment offline: %s", r)
	require.Contains(t, r.Stderr, "etcd cluster cannot be reached", "the refusal says etcd is unreachable: %s", r)

	st := waitOffline(a, 10*time.Second)
	waitOffline(bh, 5*time.Second) // B, idle, finds etcd gone by itself
	require.Equal(t, "etcd", st.Backend)
	require.Equal(t, "local", st.Offline)
	require.GreaterOrEqual(t, st.Pending, 1, "A's offline decisions wait for etcd: %+v", st)
	require.NotEmpty(t, st.LastError, "offline says why")

	f.RestartEtcd()
	st = waitOnline(a, 30*time.Second)
	require.Empty(t, st.LastError)
	a.WaitLog(fmt.Sprintf("cluster: wrote back the offline decisions about %q", u.Name), 5*time.Second)
	waitOnline(bh, 30*time.Second)
	_, err = bh.Verify(u.Name, code)
	requireReplayRefused(t, err, "the code A accepted offline, on B once etcd is back")
	_, err = bh.Verify(u.Name, codeForStep(t, e.Secret, step+1))
	require.NoError(t, err, "the next code works on B")
	_, err = a.Verify(u.Name, codeForStep(t, e.Secret, step+1))
	requireReplayRefused(t, err, "and A, online again, sees B's")
}

// TestFleetOfflineDeny: with offline = "deny" and all of etcd killed, a
// login is refused as unavailable (wire error code "unavailable",
// PAM_AUTHINFO_UNAVAIL through pamtester) within timeout + 1 s, the
// first one after the kill included, when the host still takes etcd for
// online and waits the whole timeout.
func TestFleetOfflineDeny(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "etcd", "pamtester")
	const timeout = time.Second
	f := startFleet(t, b, fleetOptions{Cluster: []string{`timeout = "1s"`, `offline = "deny"`}})
	a := f.hosts[0]
	svc := hostPamtesterService(t, module, a.Socket, 10)
	u := newUser(t)
	e := a.Enroll(u.Name)
	step := stableStep(t, 2*time.Second)
	_, err := a.Verify(u.Name, codeForStep(t, e.Secret, step))
	require.NoError(t, err, "a login online")

	f.KillEtcd()
	var took []time.Duration
	for i, code := range []string{codeForStep(t, e.Secret, step+1), codeForStep(t, e.Secret, step+2)} {
		start := time.Now()
		_, err = a.Verify(u.Name, code)
		took = append(took, time.Since(start))
		var we *wire.Error
		require.True(t, errors.As(err, &we), "login %d: the daemon answers (not a transport failure): %v", i+1, err)
		require.Equal(t, wire.ErrCodeUnavailable, we.Code, "login %d: %v", i+1, err)
		require.Less(t, took[i], timeout+time.Second, "login %d refused within timeout + 1 s", i+1)
	}
	require.Contains(t, err.Error(), "offline = \"deny\"", "the refusal says why")

	r := hostPamtester(t, svc, u.Name, codeForStep(t, e.Secret, step+1)+"\n", 30*time.Second)
	requireHostRefused(t, r, hostPtUnavail)
	st := clusterStatus(a)
	require.False(t, st.Online)
	require.Equal(t, "deny", st.Offline)
	require.Zero(t, st.Pending, "nothing was decided offline")
	t.Logf("offline = \"deny\", timeout %v: refused in %v (first after the kill) and %v; pamtester %v",
		timeout, took[0].Round(time.Millisecond), took[1].Round(time.Millisecond), r.Elapsed.Round(time.Millisecond))
}
