package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// Statuses for the golden tests of `cluster status`.
var (
	clusterLocal   = wire.ClusterStatus{Backend: "local", Online: true}
	clusterOffline = wire.ClusterStatus{Backend: "etcd", Online: false, Pending: 3,
		Endpoints: []string{"https://etcd1:2379", "https://etcd2:2379"}, Offline: "local",
		Since: "2026-11-28T13:40:00Z", LastError: "etcd did not answer within 2s"}
	clusterOnline = wire.ClusterStatus{Backend: "etcd", Online: true,
		Endpoints: []string{"https://etcd1:2379", "https://etcd2:2379", "https://etcd3:2379"}, Offline: "deny",
		Since: "2026-11-28T11:00:00Z"}
)

// `totpctl cluster status` sends OpClusterStatus and shows the answer
// for people or, with --json, as the daemon's JSON; it exits 0 while the
// state is reachable and exitOffline (4) while the host is offline, with
// --json too, and says nothing on stderr either way.
func TestGoldenClusterStatus(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   wire.ClusterStatus
		exit int
	}{
		{"local", clusterLocal, exitOK},
		{"offline", clusterOffline, exitOffline},
		{"online", clusterOnline, exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			f := fixed(wire.Response{Cluster: &st})
			r := runFake(t, f, "", "cluster", "status")
			require.Equal(t, tc.exit, r.code, r.stderr)
			require.Empty(t, r.stderr)
			golden(t, "cluster-status-"+tc.name+".txt", r.stdout)
			r = runFake(t, f, "", "--json", "cluster", "status")
			require.Equal(t, tc.exit, r.code, r.stderr)
			require.Empty(t, r.stderr)
			golden(t, "cluster-status-"+tc.name+".json", r.stdout)
			var back wire.ClusterStatus
			require.NoError(t, json.Unmarshal([]byte(r.stdout), &back))
			require.Equal(t, tc.st, back, "the JSON is the daemon's, as is")
			for _, req := range f.requests() {
				require.Equal(t, wire.Request{Op: wire.OpClusterStatus}, req)
			}
		})
	}
	require.NotEqual(t, exitUnavailable, exitOffline, "offline is not the daemon unreachable")
}

func TestClusterStatusText(t *testing.T) {
	st := wire.ClusterStatus{Backend: "etcd", Offline: "deny", LastError: "context deadline\nexceeded", Pending: 1}
	r := runFake(t, fixed(wire.Response{Cluster: &st}), "", "cluster", "status")
	require.Equal(t, exitOffline, r.code)
	require.Equal(t, "backend:   etcd\n"+
		"online:    no (context deadline exceeded)\n"+
		"offline:   deny (logins are refused)\n"+
		"pending:   1 user to write back\n"+
		"endpoints: -\n", r.stdout)
	st = wire.ClusterStatus{Backend: "etcd", Online: true, Since: "not a time", LastError: "old news", Offline: "local"}
	r = runFake(t, fixed(wire.Response{Cluster: &st}), "", "cluster", "status")
	require.Equal(t, exitOK, r.code)
	require.Contains(t, r.stdout, "online:    yes (since not a time)\n", "no last error while online")
	require.Contains(t, r.stdout, "offline:   local (when etcd does not answer, logins are decided from this host's copy)\n")
}

// A refusal is exit 1 with the daemon's reason, an answer without a
// status is exit 1, no daemon is exit 3, and a missing or unknown
// subcommand is a usage error that asks nothing.
func TestClusterStatusErrors(t *testing.T) {
	r := runFake(t, fixed(*refused(wire.ErrCodePermission, "this is an administrator command: run it as root or as a member of the group \"totpd-admin\"")), "", "cluster", "status")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "administrator command")
	require.Empty(t, r.stdout)

	r = runFake(t, fixed(wire.Response{}), "", "cluster", "status", "--json")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "no cluster status")
	require.Empty(t, r.stdout)

	r = runFake(t, &fakeDaemon{answer: func(wire.Request) *wire.Response { return nil }}, "", "cluster", "status")
	require.Equal(t, exitUnavailable, r.code)

	for _, args := range [][]string{{"cluster"}, {"cluster", "stats"}, {"cluster", "status", "extra"}} {
		f := fixed(wire.Response{Cluster: &clusterLocal})
		r = runFake(t, f, "", args...)
		require.Equal(t, exitUsage, r.code, "%v", args)
		require.Empty(t, f.requests(), "%v", args)
	}
	r = runFake(t, nil, "", "cluster")
	require.Contains(t, r.stderr, "'cluster' needs a subcommand: status")
}
