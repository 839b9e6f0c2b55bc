package server

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/wire"
)

// `totpctl cluster status` is for root and admin_group only: a plain
// user is refused and the refusal audited; root and an admin get the
// status (here the local backend's), and the read is audited once.
func TestOpClusterStatusAdminOnly(t *testing.T) {
	rec := &audit.Recorder{}
	s := newTestServer(rec)
	req := body(t, wire.Request{Version: wire.Version, Op: wire.OpClusterStatus})

	resp := s.ask(Peer{UID: 1001}, req)
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodePermission, resp.Error.Code)
	require.Nil(t, resp.Cluster)
	ev := rec.Snapshot()
	require.Len(t, ev, 1)
	require.Equal(t, "denied", ev[0].Result)
	require.Equal(t, string(wire.OpClusterStatus), ev[0].Op)

	for _, uid := range []uint32{0, 1003} {
		rec.Events = nil
		resp = s.ask(Peer{UID: uid}, req)
		require.Nil(t, resp.Error, "uid %d", uid)
		require.Equal(t, &wire.ClusterStatus{Backend: "local", Online: true}, resp.Cluster)
		ev = rec.Snapshot()
		require.Len(t, ev, 1)
		require.Equal(t, "ok", ev[0].Result)
		require.Equal(t, "cluster status: local", ev[0].Reason)
	}
}
