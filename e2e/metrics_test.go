package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/metrics/promtest"

	"github.com/totpd/totpd/e2e/testutils"
)

// promFamilies parses an exposition and checks that every family is there.
func promFamilies(t *testing.T, text []byte) promtest.Families {
	t.Helper()
	fams := promtest.Parse(t, text)
	for _, name := range []string{"totpd_verifications_total", "totpd_lockouts_total", "totpd_enrollments_total",
		"totpd_recovery_codes_used_total", "totpd_users", "totpd_store_sync_seconds", "totpd_build_info"} {
		require.Contains(t, fams, name, "every family is there:\n%s", text)
	}
	return fams
}

// syncCount reports how many journal fdatasyncs the histogram counted.
func syncCount(fams promtest.Families) uint64 {
	return fams["totpd_store_sync_seconds"].Metric[0].Histogram.GetSampleCount()
}

// TestMetrics: the counters move with real logins through pamtester and
// the real PAM module, as `totpctl metrics` and metrics_file tell them.
// metrics_file is there at start with mode 0644, and is replaced (a new
// inode, by rename) with the new counts within its 15 s period, every read
// meanwhile parsing whole. Only root and admin_group may read the metrics.
func TestMetrics(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	admins := newGroup(t)
	mf := filepath.Join(t.TempDir(), "node-exporter", "totpd.prom")
	require.NoError(t, os.Mkdir(filepath.Dir(mf), 0o755))
	d := startDaemon(t, b, config{AdminGroup: admins, Extra: "metrics_file = \"" + mf + "\""})
	svc := hostPamtesterService(t, module, d.Socket, 5)

	// At start: the file, 0644, every counter at zero.
	testutils.WaitFor(t, 10*time.Second, "metrics_file at start", func() bool { _, err := os.Stat(mf); return err == nil })
	data, err := os.ReadFile(mf)
	require.NoError(t, err)
	var st syscall.Stat_t
	require.NoError(t, syscall.Stat(mf, &st))
	require.Equal(t, uint32(0o644), st.Mode&0o7777, "node_exporter, another user, reads it")
	firstInode := st.Ino
	start := promFamilies(t, data)
	require.Equal(t, 0.0, promtest.Value(t, start, "totpd_verifications_total", "result", "ok"))
	require.Equal(t, 1.0, promtest.Value(t, start, "totpd_build_info", "", ""))

	// An admin enrollment, one good and one wrong code through pamtester.
	alice := newUser(t)
	ea := hostEnroll(t, d, alice)
	step := stableStep(t, 8*time.Second)
	requireHostSuccess(t, hostPamtester(t, svc, alice.Name, codeForStep(t, ea.Secret, step)+"\n", 30*time.Second), false)
	requireHostRefused(t, hostPamtester(t, svc, alice.Name, hostWrongCode(t, ea.Secret)+"\n", 30*time.Second), hostPtAuthErr)

	check := func(fams map[string]*dto.MetricFamily) {
		t.Helper()
		require.Equal(t, 1.0, promtest.Value(t, fams, "totpd_verifications_total", "result", "ok"))
		require.Equal(t, 1.0, promtest.Value(t, fams, "totpd_verifications_total", "result", "wrong"))
		require.Equal(t, 1.0, promtest.Value(t, fams, "totpd_enrollments_total", "kind", "admin"))
		require.Equal(t, 1.0, promtest.Value(t, fams, "totpd_users", "state", "enrolled"))
		// The enrollment and both codes were each saved with an fdatasync.
		require.GreaterOrEqual(t, syncCount(fams), syncCount(start)+3)
	}
	r := d.CtlOK(nil, "metrics")
	check(promFamilies(t, []byte(r.Stdout)))

	// The file catches up within its period; every read before is whole.
	reads := 0
	testutils.WaitFor(t, 25*time.Second, "metrics_file with the logins", func() bool {
		data, err := os.ReadFile(mf)
		require.NoError(t, err)
		fams := promFamilies(t, data)
		reads++
		return promtest.Value(t, fams, "totpd_verifications_total", "result", "wrong") == 1
	})
	data, err = os.ReadFile(mf)
	require.NoError(t, err)
	check(promFamilies(t, data))
	require.NoError(t, syscall.Stat(mf, &st))
	require.NotEqual(t, firstInode, st.Ino, "replaced by a rename, not rewritten in place")
	require.Equal(t, uint32(0o644), st.Mode&0o7777)
	t.Logf("%d reads of metrics_file while waiting for its rewrite, each parsed whole", reads)
	entries, err := os.ReadDir(filepath.Dir(mf))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file is left")

	// Admin only: a plain user is refused, a member of admin_group is not.
	plain, member := newUser(t), newUser(t, admins)
	r = d.CtlAs(plain, "metrics")
	require.Equal(t, 1, r.Code, "%s", r)
	require.Contains(t, r.Stderr, "administrator command")
	require.Empty(t, r.Stdout)
	r = d.CtlAs(member, "metrics")
	require.Equal(t, 0, r.Code, "%s", r)
	promFamilies(t, []byte(r.Stdout))

	// --json is refused with the reason (usage, exit 2).
	r = d.Ctl("metrics", "--json")
	require.Equal(t, 2, r.Code, "%s", r)
	require.Contains(t, r.Stderr, "metrics has no --json")
	requireNoSecrets(t, d.Stderr(), []string{ea.Secret}, nil)
}
