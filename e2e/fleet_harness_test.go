package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/etcdkit"
	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/testutils"
)

// fleet is a real etcd cluster and totpd hosts on it (PRODUCT.md §8):
// each host its own state directory and socket, all one master key.
type fleet struct {
	t     *testing.T
	b     binaries
	etcd  *etcdkit.Cluster
	hosts []*daemon
	// Cfg is every host's configuration, the [cluster] table included.
	Cfg         config
	stderrAudit bool
}

// fleetOptions say what fleet to start.
type fleetOptions struct {
	Hosts int // 0: 2
	Etcd  etcdkit.Options
	// Cluster are extra lines of the [cluster] table (`offline = "deny"`).
	Cluster []string
	Config  config
	// StderrAudit makes the hosts write their audit to stderr, where a
	// test reads it, even where there is a journal: its socket is hidden
	// from them (as TestWireAuditNoForgery does).
	StderrAudit bool
}

// startFleet starts the etcd cluster and the hosts, the first host
// first so that its new master key is the one every other host reads,
// each host waited for until it says online: its socket accepts before
// its first contact with etcd is made, and the first host's contact
// writes the cluster's key check.
func startFleet(t *testing.T, b binaries, o fleetOptions) *fleet {
	t.Helper()
	if o.Hosts == 0 {
		o.Hosts = 2
	}
	f := &fleet{t: t, b: b, etcd: etcdkit.Start(t, o.Etcd), stderrAudit: o.StderrAudit}
	f.Cfg = o.Config
	f.Cfg.Extra = f.etcd.ClusterTOML(o.Cluster...) + f.Cfg.Extra
	for i := range o.Hosts {
		key := ""
		if i > 0 {
			key = f.hosts[0].KeyFile
		}
		d := f.newHost(f.Cfg, key)
		d.Start()
		waitOnline(d, 30*time.Second)
		if i == 0 {
			// totpd (built without fleet mode) runs totpd-fleet in its
			// place, same pid: the pid the harness started is it now.
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", d.Pid()))
			require.NoError(f.t, err)
			require.Equal(f.t, "totpd-fleet", filepath.Base(exe), "the fleet host's program")
		}
		f.hosts = append(f.hosts, d)
	}
	return f
}

// newHost prepares (does not start) a daemon with cfg whose master key
// is keyFile ("": its own, made at its first start).
func (f *fleet) newHost(cfg config, keyFile string) *daemon {
	f.t.Helper()
	d := newDaemon(f.t, f.b, cfg)
	if keyFile != "" {
		d.KeyFile = keyFile
		d.WriteConfig(cfg)
	}
	if f.stderrAudit && journalPresent() {
		wrap, err := hostkit.Private{Binds: []hostkit.Bind{{Src: publicDir(f.t), Dst: "/run/systemd/journal"}}}.Argv()
		require.NoError(f.t, err)
		d.Wrap = wrap
	}
	return d
}

// KillEtcd kills every etcd member (SIGKILL): the cluster is gone.
func (f *fleet) KillEtcd() {
	f.t.Helper()
	for i := range f.etcd.Len() {
		f.etcd.Kill(i)
	}
}

// RestartEtcd starts every member again and waits until the cluster
// serves.
func (f *fleet) RestartEtcd() {
	f.t.Helper()
	for i := range f.etcd.Len() {
		f.etcd.Restart(i)
	}
	require.NoError(f.t, f.etcd.WaitHealthy(time.Now().Add(60*time.Second)))
}

// etcdLeader reports the index of the member that leads the cluster.
func etcdLeader(t *testing.T, c *etcdkit.Cluster) int {
	t.Helper()
	cli, err := c.Client(etcdkit.ClientOptions{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range c.Len() {
		st, err := cli.Status(ctx, c.Endpoint(i))
		require.NoError(t, err, "status of member %d", i)
		if st.Leader == st.Header.MemberId {
			return i
		}
	}
	t.Fatal("no etcd member says it leads")
	return -1
}

// clusterStatus runs `totpctl cluster status --json` on d as root. It
// exits 0 online and 4 offline (totpctl(1)), printing the status either
// way; anything else fails the test, and so does an exit status that
// disagrees with "online".
func clusterStatus(d *daemon) wire.ClusterStatus {
	d.t.Helper()
	r := d.Ctl("cluster", "status", "--json")
	require.Contains(d.t, []int{0, 4}, r.Code, "totpctl cluster status --json: %s", r)
	var st wire.ClusterStatus
	require.NoError(d.t, json.Unmarshal([]byte(r.Stdout), &st), "totpctl cluster status --json: %s", r)
	require.Equal(d.t, !st.Online, r.Code == 4, "exit status 4 exactly when offline: %s", r)
	return st
}

// waitCluster waits until d's cluster status satisfies cond, or fails
// the test after timeout with the last status seen.
func waitCluster(d *daemon, what string, timeout time.Duration, cond func(wire.ClusterStatus) bool) wire.ClusterStatus {
	d.t.Helper()
	var last wire.ClusterStatus
	deadline := time.Now().Add(timeout)
	for {
		last = clusterStatus(d)
		if cond(last) {
			return last
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("timed out after %v waiting for the host at %s to be %s; its last cluster status: %+v\nits log:\n%s",
				timeout, d.Socket, what, last, d.Stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitOnline waits until d says online with nothing left to write back.
func waitOnline(d *daemon, timeout time.Duration) wire.ClusterStatus {
	d.t.Helper()
	return waitCluster(d, "online with nothing pending", timeout, func(s wire.ClusterStatus) bool { return s.Online && s.Pending == 0 })
}

// waitOffline waits until d says offline.
func waitOffline(d *daemon, timeout time.Duration) wire.ClusterStatus {
	d.t.Helper()
	return waitCluster(d, "offline", timeout, func(s wire.ClusterStatus) bool { return !s.Online })
}

// requireReplayRefused checks that err is the refusal of a code whose
// step was already used, not of a wrong or expired one.
func requireReplayRefused(t *testing.T, err error, format string, args ...any) {
	t.Helper()
	what := fmt.Sprintf(format, args...)
	require.Equal(t, wire.ErrCodeDenied, errCode(err), "%s: %v", what, err)
	require.Contains(t, err.Error(), "already used", "%s: refused as a replay", what)
}

// auditLines reports d's audit lines about user that contain all of parts.
func auditLines(d *daemon, user string, parts ...string) []string {
	var out []string
	for _, l := range hostAudit(d, user) {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			out = append(out, l)
		}
	}
	return out
}

// waitAudit waits until d has logged an audit line about user with all of parts.
func waitAudit(d *daemon, user string, timeout time.Duration, parts ...string) string {
	d.t.Helper()
	var l []string
	testutils.WaitFor(d.t, timeout, fmt.Sprintf("an audit line about %s with %q", user, parts), func() bool {
		l = auditLines(d, user, parts...)
		return len(l) > 0
	})
	return l[0]
}
