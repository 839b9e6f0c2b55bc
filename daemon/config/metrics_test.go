package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// metrics_file: off by default, a clean absolute path ending in ".prom"
// otherwise, each refusal saying what is wanted.
func TestMetricsFile(t *testing.T) {
	c, err := Parse(nil, name)
	require.NoError(t, err)
	require.Equal(t, "", c.MetricsFile, "no file unless asked for")

	c, err = Parse([]byte(`metrics_file = "/var/lib/prometheus/node-exporter//totpd.prom"`), name)
	require.NoError(t, err)
	require.Equal(t, "/var/lib/prometheus/node-exporter/totpd.prom", c.MetricsFile, "cleaned as the other paths are")

	for _, tt := range []struct{ in, want string }{
		{`metrics_file = "totpd.prom"`, `metrics_file = "totpd.prom": must be an absolute path, starting with /`},
		{`metrics_file = "/var/lib/prometheus/node-exporter/totpd.txt"`, `metrics_file = "/var/lib/prometheus/node-exporter/totpd.txt": must end in ".prom", the files node_exporter's textfile collector reads`},
		{`metrics_file = "/var/lib/.prom"`, `must end in ".prom"`},
		{`metrics_file = "/"`, `must not be the root directory`},
		{`metrics_file = 1`, `metrics_file = 1: must be a string in double quotes, not an integer`},
	} {
		_, err := Parse([]byte(tt.in), name)
		require.Error(t, err, tt.in)
		require.Contains(t, err.Error(), tt.want)
	}
}

// metrics_file inside state_dir is refused: that directory is 0700 and
// the store's alone.
func TestMetricsFileNotInStateDir(t *testing.T) {
	_, err := Parse([]byte("state_dir = \"/var/lib/totpd\"\nmetrics_file = \"/var/lib/totpd/users/totpd.prom\""), name)
	require.ErrorContains(t, err, `metrics_file = "/var/lib/totpd/users/totpd.prom": must not be inside state_dir "/var/lib/totpd"`)
	_, err = Parse([]byte("state_dir = \"/var/lib/totpd\"\nmetrics_file = \"/var/lib/totpd-metrics/totpd.prom\""), name)
	require.NoError(t, err, "a sibling directory with a longer name is not inside")
}
