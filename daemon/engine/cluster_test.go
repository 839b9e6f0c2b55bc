package engine

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/wire"
)

// statusBackend is a Backend with a Status, as the etcd backend has.
type statusBackend struct {
	sharedBackend
	st wire.ClusterStatus
}

func (b *statusBackend) Status() wire.ClusterStatus { return b.st }

// The local backend reports itself local and online; a Backend with a
// Status is reported as it says; one without is reported local. Each
// read is audited once, naming the backend.
func TestClusterStatus(t *testing.T) {
	ask := Info{Op: wire.OpClusterStatus, Caller: "root"}

	f := newFixture(t, nil)
	resp := f.e.ClusterStatus(ask)
	require.Nil(t, resp.Error)
	require.Equal(t, wire.Version, resp.Version)
	require.Equal(t, &wire.ClusterStatus{Backend: "local", Online: true}, resp.Cluster)
	require.Equal(t, []audit.Event{{Op: "admin.cluster-status", Caller: "root", Result: "ok", Reason: "cluster status: local"}}, f.audit.Snapshot())

	rec := &audit.Recorder{}
	off := wire.ClusterStatus{Backend: "etcd", Online: false, Pending: 3, Endpoints: []string{"https://etcd1:2379", "https://etcd2:2379"},
		Offline: "local", Since: "2026-12-02T15:40:00Z", LastError: "etcd did not answer within 2s"}
	b := &statusBackend{st: off}
	e := New(config.Default(), b, Options{Accounts: fakeAccounts{}, Audit: rec})
	resp = e.ClusterStatus(ask)
	require.Nil(t, resp.Error)
	require.Equal(t, &off, resp.Cluster)
	b.st = wire.ClusterStatus{Backend: "etcd", Online: true, Endpoints: off.Endpoints, Offline: "deny", Since: "2026-12-02T15:41:00Z"}
	resp = e.ClusterStatus(ask)
	require.True(t, resp.Cluster.Online)
	ev := rec.Snapshot()
	require.Len(t, ev, 2)
	require.Equal(t, "cluster status: etcd offline, 3 pending", ev[0].Reason)
	require.Equal(t, "cluster status: etcd online", ev[1].Reason)
	require.Equal(t, "", ev[1].User)

	rec = &audit.Recorder{}
	e = New(config.Default(), &sharedBackend{}, Options{Accounts: fakeAccounts{}, Audit: rec})
	require.Equal(t, &wire.ClusterStatus{Backend: "local", Online: true}, e.ClusterStatus(ask).Cluster)
	require.Len(t, rec.Snapshot(), 1)
}
