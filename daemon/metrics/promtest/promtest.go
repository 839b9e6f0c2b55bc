// Package promtest reads a Prometheus text exposition back for tests,
// with the parser Prometheus itself uses, so that the format of
// `totpctl metrics` and metrics_file is checked by something other than
// the code that writes it. Only tests import it: the programs link no
// Prometheus package.
package promtest

import (
	"bytes"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// Families are the metric families of one exposition, by name.
type Families = map[string]*dto.MetricFamily

// Parse reads text with the legacy (strict, pre-UTF-8) name rules that
// node_exporter's textfile collector and every Prometheus version accept,
// and fails t when it does not parse.
func Parse(t testing.TB, text []byte) Families {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	require.NoError(t, err, "the exposition must parse:\n%s", text)
	return fams
}

// Value reports the counter or gauge of family name whose label has the
// value lv (label "": the first sample), and fails t when there is none.
func Value(t testing.TB, fams Families, name, label, lv string) float64 {
	t.Helper()
	f, ok := fams[name]
	require.True(t, ok, "family %s is missing", name)
	for _, m := range f.Metric {
		match := label == ""
		for _, l := range m.Label {
			match = match || l.GetName() == label && l.GetValue() == lv
		}
		if !match {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.Counter.GetValue()
		case dto.MetricType_GAUGE:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("%s{%s=%q} is missing", name, label, lv)
	return 0
}
