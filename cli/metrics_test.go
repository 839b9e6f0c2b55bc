package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// `totpctl metrics` sends OpMetrics and prints the daemon's text exactly;
// a refusal is exit 1 with the daemon's reason; --json is a usage error.
func TestMetricsCommand(t *testing.T) {
	const text = "# HELP totpd_lockouts_total Lockouts started.\n# TYPE totpd_lockouts_total counter\ntotpd_lockouts_total 2\n"
	fd := fixed(wire.Response{Metrics: text})
	r := runFake(t, fd, "", "metrics")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, text, r.stdout)
	require.Empty(t, r.stderr)
	reqs := fd.requests()
	require.Len(t, reqs, 1)
	require.Equal(t, wire.OpMetrics, reqs[0].Op)

	r = runFake(t, fixed(*refused(wire.ErrCodePermission, "this is an administrator command: run it as root or as a member of the group \"totpd-admin\"")), "", "metrics")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "administrator command")
	require.Empty(t, r.stdout)

	fd = fixed(wire.Response{Metrics: text})
	r = runFake(t, fd, "", "metrics", "--json")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "metrics has no --json")
	require.Empty(t, fd.requests(), "nothing is asked of the daemon")
}
