package metrics

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/metrics/promtest"

	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/version"
)

func parse(t testing.TB, text []byte) promtest.Families { return promtest.Parse(t, text) }

func value(t testing.TB, fams promtest.Families, name, label, lv string) float64 {
	return promtest.Value(t, fams, name, label, lv)
}

// The exact text of a registry: the families in order, each with HELP and
// TYPE, every label value of the fixed tables, a histogram with
// cumulative buckets up to +Inf, _sum and _count, and a final newline.
func TestTextExact(t *testing.T) {
	r := New()
	r.verifications[vOK].Add(3)
	r.verifications[vWrong].Add(2)
	r.lockouts.Add(1)
	r.enrollments[eAdmin].Add(1)
	r.recoveryUsed.Add(1)
	for _, d := range []time.Duration{50 * time.Microsecond, 400 * time.Microsecond, 700 * time.Microsecond, 3 * time.Millisecond, 2 * time.Second} {
		r.ObserveSync(d)
	}
	r.SetUsers(func() (engine.UserCounts, error) {
		return engine.UserCounts{Error: 1, Locked: 2, Enrolled: 3, RequiredNotEnrolled: 4, Pending: 5, NotEnrolled: 6}, nil
	})
	text, err := r.Text()
	require.NoError(t, err)
	s := string(text)
	require.Equal(t, byte('\n'), s[len(s)-1], "the last line ends in a newline too")
	for _, want := range []string{
		"# HELP totpd_verifications_total Codes typed at a login",
		"# TYPE totpd_verifications_total counter\n" +
			"totpd_verifications_total{result=\"ok\"} 3\n" +
			"totpd_verifications_total{result=\"wrong\"} 2\n" +
			"totpd_verifications_total{result=\"malformed\"} 0\n" +
			"totpd_verifications_total{result=\"replay\"} 0\n" +
			"totpd_verifications_total{result=\"locked\"} 0\n" +
			"totpd_verifications_total{result=\"not_enrolled\"} 0\n" +
			"totpd_verifications_total{result=\"refused\"} 0\n" +
			"totpd_verifications_total{result=\"error\"} 0\n",
		"# TYPE totpd_lockouts_total counter\ntotpd_lockouts_total 1\n",
		"# TYPE totpd_enrollments_total counter\n" +
			"totpd_enrollments_total{kind=\"self\"} 0\n" +
			"totpd_enrollments_total{kind=\"login\"} 0\n" +
			"totpd_enrollments_total{kind=\"admin\"} 1\n" +
			"totpd_enrollments_total{kind=\"import\"} 0\n",
		"# TYPE totpd_recovery_codes_used_total counter\ntotpd_recovery_codes_used_total 1\n",
		"# TYPE totpd_users gauge\n" +
			"totpd_users{state=\"error\"} 1\n" +
			"totpd_users{state=\"locked\"} 2\n" +
			"totpd_users{state=\"enrolled\"} 3\n" +
			"totpd_users{state=\"required_not_enrolled\"} 4\n" +
			"totpd_users{state=\"pending\"} 5\n" +
			"totpd_users{state=\"not_enrolled\"} 6\n",
		"# TYPE totpd_store_sync_seconds histogram\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.0001\"} 1\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.00025\"} 1\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.0005\"} 2\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.001\"} 3\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.0025\"} 3\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.005\"} 4\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.01\"} 4\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.025\"} 4\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.05\"} 4\n" +
			"totpd_store_sync_seconds_bucket{le=\"0.1\"} 4\n" +
			"totpd_store_sync_seconds_bucket{le=\"+Inf\"} 5\n" +
			"totpd_store_sync_seconds_sum 2.00415\n" +
			"totpd_store_sync_seconds_count 5\n",
		"# TYPE totpd_build_info gauge\ntotpd_build_info{version=\"" + version.Version + "\",goversion=\"" + runtime.Version() + "\"} 1\n",
	} {
		require.Contains(t, s, want)
	}
	// Each family once, HELP before TYPE before its samples.
	for _, name := range []string{nameVerifications, nameLockouts, nameEnrollments, nameRecoveryUsed, nameUsers, nameSync, nameBuildInfo} {
		require.Equal(t, 1, strings.Count(s, "# HELP "+name+" "), name)
		require.Equal(t, 1, strings.Count(s, "# TYPE "+name+" "), name)
		require.Less(t, strings.Index(s, "# HELP "+name+" "), strings.Index(s, "# TYPE "+name+" "))
		require.Less(t, strings.Index(s, "# TYPE "+name+" "), strings.Index(s, "\n"+name))
	}
	require.NotContains(t, s, "\n\n", "no blank lines")
}

// The Prometheus parser reads the same numbers back: counters, gauges,
// and a histogram whose buckets are cumulative and whose +Inf bucket is
// the count.
func TestTextParses(t *testing.T) {
	r := New()
	r.verifications[vReplay].Add(7)
	r.enrollments[eImport].Add(2)
	for i := range 100 {
		r.ObserveSync(time.Duration(i) * 100 * time.Microsecond) // 0 to 9.9 ms
	}
	text, err := r.Text()
	require.NoError(t, err)
	fams := parse(t, text)
	require.NotContains(t, fams, nameUsers, "no users family without SetUsers")
	require.Len(t, fams, 6)
	for name, typ := range map[string]dto.MetricType{
		nameVerifications: dto.MetricType_COUNTER, nameLockouts: dto.MetricType_COUNTER,
		nameEnrollments: dto.MetricType_COUNTER, nameRecoveryUsed: dto.MetricType_COUNTER,
		nameSync: dto.MetricType_HISTOGRAM, nameBuildInfo: dto.MetricType_GAUGE,
	} {
		require.Equal(t, typ, fams[name].GetType(), name)
		require.NotEmpty(t, fams[name].GetHelp(), name)
	}
	require.Equal(t, 7.0, value(t, fams, nameVerifications, "result", "replay"))
	require.Equal(t, 0.0, value(t, fams, nameVerifications, "result", "ok"))
	require.Equal(t, 2.0, value(t, fams, nameEnrollments, "kind", "import"))
	require.Equal(t, 1.0, value(t, fams, nameBuildInfo, "version", version.Version))

	h := fams[nameSync].Metric[0].Histogram
	require.Equal(t, uint64(100), h.GetSampleCount())
	require.InDelta(t, 0.495, h.GetSampleSum(), 1e-9) // 100 µs × (0+…+99)
	require.Len(t, h.Bucket, len(SyncBuckets)+1)
	last := h.Bucket[len(SyncBuckets)]
	require.True(t, math.IsInf(last.GetUpperBound(), 1), "the last bucket is +Inf")
	require.Equal(t, h.GetSampleCount(), last.GetCumulativeCount(), "+Inf is the count")
	prev := uint64(0)
	for i, b := range h.Bucket[:len(SyncBuckets)] {
		require.Equal(t, SyncBuckets[i], b.GetUpperBound())
		require.GreaterOrEqual(t, b.GetCumulativeCount(), prev, "cumulative")
		prev = b.GetCumulativeCount()
	}
	// 0, 0.1 ms: ≤ 0.0001 s; through 9.9 ms: all ≤ 0.01 s.
	require.Equal(t, uint64(2), h.Bucket[0].GetCumulativeCount())
	require.Equal(t, uint64(100), h.Bucket[6].GetCumulativeCount())
}

// Label values and HELP text are escaped as the format says, and the
// parser gets the original strings back.
func TestEscaping(t *testing.T) {
	require.Equal(t, `a\\b\"c\nd`, escapeLabelValue("a\\b\"c\nd"))
	require.Equal(t, `a\\b"c\nd`, escapeHelp("a\\b\"c\nd"))
	require.Equal(t, "+Inf", formatFloat(math.Inf(1)))
	require.Equal(t, "-Inf", formatFloat(math.Inf(-1)))
	require.Equal(t, "NaN", formatFloat(math.NaN()))
	require.Equal(t, "0.00025", formatFloat(0.00025))
	require.Equal(t, "12", formatFloat(12))

	odd := "v1.0 \"beta\"\\x\nend ünï"
	w := &textWriter{}
	w.family("totpd_test", "gauge", "help with \\ and\na newline")
	w.sample("totpd_test", []label{{"version", odd}, {"other", ""}}, 1)
	fams := parse(t, w.b)
	f := fams["totpd_test"]
	require.Equal(t, "help with \\ and\na newline", f.GetHelp())
	got := map[string]string{}
	for _, l := range f.Metric[0].Label {
		got[l.GetName()] = l.GetValue()
	}
	require.Equal(t, odd, got["version"])
}

// When the users cannot be counted, the rest is still written and the
// error reported beside it.
func TestTextUsersError(t *testing.T) {
	r := New()
	r.SetUsers(func() (engine.UserCounts, error) {
		return engine.UserCounts{}, errors.New("cannot list the state directory")
	})
	text, err := r.Text()
	require.ErrorContains(t, err, "cannot list")
	fams := parse(t, text)
	require.NotContains(t, fams, nameUsers)
	require.Contains(t, fams, nameVerifications)
	require.Contains(t, fams, nameBuildInfo)
}
