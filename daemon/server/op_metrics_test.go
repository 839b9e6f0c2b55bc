package server

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// The metrics are for root and admin_group only: a plain user is refused
// before the text is made, and the refusal is audited; root and an admin
// get the text, and the read is audited once.
func TestOpMetricsAdminOnly(t *testing.T) {
	rec := &audit.Recorder{}
	made := 0
	e := engine.New(config.Default(), engine.Local(nostore{}), engine.Options{
		Accounts: accounts{"root": 0, "alice": 1001, "adm": 1003},
		Audit:    rec,
		Now:      time.Now,
		Metrics:  func() ([]byte, error) { made++; return []byte("totpd_lockouts_total 0\n"), nil },
	})
	s := &Server{Engine: e, Audit: rec}
	req := body(t, wire.Request{Version: wire.Version, Op: wire.OpMetrics})

	resp := s.ask(Peer{UID: 1001}, req)
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodePermission, resp.Error.Code)
	require.Contains(t, resp.Error.Message, "administrator command")
	require.Empty(t, resp.Metrics)
	require.Equal(t, 0, made, "refused before anything is counted")
	ev := rec.Snapshot()
	require.Len(t, ev, 1)
	require.Equal(t, "denied", ev[0].Result)
	require.Equal(t, string(wire.OpMetrics), ev[0].Op)

	for _, uid := range []uint32{0, 1003} {
		rec.Events = nil
		resp = s.ask(Peer{UID: uid}, req)
		require.Nil(t, resp.Error, "uid %d", uid)
		require.Equal(t, "totpd_lockouts_total 0\n", resp.Metrics)
		ev = rec.Snapshot()
		require.Len(t, ev, 1)
		require.Equal(t, "ok", ev[0].Result)
		require.True(t, strings.HasPrefix(ev[0].Reason, "metrics"), ev[0].Reason)
	}
	require.Equal(t, 2, made)
}
