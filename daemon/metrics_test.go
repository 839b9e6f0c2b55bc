package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/metrics/promtest"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

func verifications(t *testing.T, fams promtest.Families, res string) float64 {
	return promtest.Value(t, fams, "totpd_verifications_total", "result", res)
}

// Run writes metrics_file at start and every MetricsPeriod: while it is
// rewritten every few milliseconds each read parses whole (every family
// there, build info last), has mode 0644 and moves with the logins; the
// same counters come over the socket (OpMetrics). A reload that turns
// metrics_file off removes the file.
func TestRunWritesMetricsFile(t *testing.T) {
	d := newTestDaemon(t)
	d.metricsPeriod = 5 * time.Millisecond
	mf := filepath.Join(d.dir, "totpd.prom")
	d.writeConfig("metrics_file = " + `"` + mf + `"` + "\n" + d.render(requireAll))
	d.run(d.cfgPath)

	read := func() map[string]*dto.MetricFamily {
		t.Helper()
		data, err := os.ReadFile(mf)
		require.NoError(t, err)
		fi, err := os.Stat(mf)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
		fams := promtest.Parse(t, data)
		for _, name := range []string{"totpd_verifications_total", "totpd_lockouts_total", "totpd_enrollments_total",
			"totpd_recovery_codes_used_total", "totpd_users", "totpd_store_sync_seconds", "totpd_build_info"} {
			require.Contains(t, fams, name, "a whole file has every family:\n%s", data)
		}
		return fams
	}
	testutils.WaitFor(t, 10*time.Second, "metrics_file at start", func() bool { _, err := os.Stat(mf); return err == nil })
	require.Equal(t, 0.0, verifications(t, read(), "not_enrolled"))

	c := &client.Client{Socket: d.sock, Timeout: 5 * time.Second}
	for i := 1; i <= 3; i++ {
		_, err := c.Call(context.Background(), wire.Request{Op: wire.OpLoginVerify, User: "alice", Code: "123456", Service: "test"})
		require.Error(t, err, "alice is not enrolled")
		// Read as fast as it is rewritten: each read must be whole.
		testutils.WaitFor(t, 10*time.Second, "the count in metrics_file", func() bool {
			return verifications(t, read(), "not_enrolled") == float64(i)
		})
	}

	resp, err := c.Call(context.Background(), wire.Request{Op: wire.OpMetrics})
	require.NoError(t, err)
	require.Equal(t, 3.0, verifications(t, promtest.Parse(t, []byte(resp.Metrics)), "not_enrolled"))

	d.writeConfig(d.render(requireAll))
	d.reload()
	testutils.WaitFor(t, 10*time.Second, "metrics_file removed once turned off", func() bool {
		_, err := os.Stat(mf)
		return os.IsNotExist(err)
	})
	require.NotContains(t, d.stderr.String(), "metrics_file", "nothing failed, so nothing was logged")
	entries, err := os.ReadDir(d.dir)
	require.NoError(t, err)
	for _, e := range entries {
		require.False(t, strings.Contains(e.Name(), ".tmp-"), "a temporary file was left: %s", e.Name())
	}
}
