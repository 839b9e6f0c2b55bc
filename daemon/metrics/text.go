package metrics

// The Prometheus text exposition format, version 0.0.4, as node_exporter's
// textfile collector and a Prometheus scrape read it:
// https://prometheus.io/docs/instrumenting/exposition_formats/
//
//   - one "# HELP name text" and one "# TYPE name type" line per family,
//     before its samples, and each family's samples together;
//   - a sample is `name{label="value",...} value`, one a line, each line
//     ending in '\n' (the last one too);
//   - in HELP text, '\' and newline are written `\\` and `\n`; in a
//     label value, '\', '"' and newline are written `\\`, `\"` and `\n`;
//   - values are Go floats as strconv writes them ('g', shortest), with
//     "+Inf", "-Inf" and "NaN" for the special values;
//   - no timestamps: the textfile collector refuses them.

import (
	"math"
	"strconv"
	"strings"
)

// textWriter appends the lines of an exposition to b.
type textWriter struct {
	b []byte
}

// label is one name="value" pair of a sample.
type label struct{ name, value string }

// family starts the family name: its HELP and TYPE lines.
func (w *textWriter) family(name, typ, help string) {
	w.b = append(w.b, "# HELP "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, escapeHelp(help)...)
	w.b = append(w.b, "\n# TYPE "...)
	w.b = append(w.b, name...)
	w.b = append(w.b, ' ')
	w.b = append(w.b, typ...)
	w.b = append(w.b, '\n')
}

// sample writes one sample line.
func (w *textWriter) sample(name string, labels []label, v float64) {
	w.b = append(w.b, name...)
	if len(labels) > 0 {
		w.b = append(w.b, '{')
		for i, l := range labels {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, l.name...)
			w.b = append(w.b, `="`...)
			w.b = append(w.b, escapeLabelValue(l.value)...)
			w.b = append(w.b, '"')
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ' ')
	w.b = append(w.b, formatFloat(v)...)
	w.b = append(w.b, '\n')
}

// helpEscaper and labelEscaper are the format's two escapings.
var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
)

// escapeHelp reports s escaped for a HELP line.
func escapeHelp(s string) string { return helpEscaper.Replace(s) }

// escapeLabelValue reports s escaped for a label value between double quotes.
func escapeLabelValue(s string) string { return labelEscaper.Replace(s) }

// formatFloat writes v as the format wants it.
func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, +1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
