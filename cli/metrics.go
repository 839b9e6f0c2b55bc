package main

import (
	"io"

	"github.com/totpd/totpd/daemon/wire"
)

// metricsCmd is `totpctl metrics`.
var metricsCmd = &command{
	path:    "metrics",
	admin:   true,
	summary: "the daemon's counters, in Prometheus text format",
	help: `Prints the daemon's metrics in the Prometheus text exposition format
(version 0.0.4), the same text the daemon writes to metrics_file for
node_exporter's textfile collector (see totpd.toml(5)): verifications by
result, lockouts, enrollments by kind, recovery codes used, users by state,
the store's fdatasync latency and the build. The counters start from zero
when the daemon starts. The text is the machine-readable form: there is no
--json.`,
	run: runMetrics,
}

func runMetrics(c *cmdCtx, _ []string) error {
	if c.o.json {
		return &usageError{msg: "metrics has no --json: its Prometheus text is what programs read", hint: "metrics"}
	}
	resp, err := c.call(wire.Request{Op: wire.OpMetrics})
	if err != nil {
		return err
	}
	// As the daemon wrote it: every line, the last one too, ends in '\n'.
	_, err = io.WriteString(c.out(), resp.Metrics)
	return err
}
