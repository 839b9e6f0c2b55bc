package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/totpd/totpd/daemon/wire"
)

// clusterStatusCmd is `totpctl cluster status`.
var clusterStatusCmd = &command{
	path:    "cluster status",
	admin:   true,
	summary: "fleet mode: backend, online or not, pending",
	help: `Tells where this host's totpd keeps its users' state and whether it can
reach it. With [cluster] backend = "etcd" (fleet mode, see totpd.toml(5)):
whether the etcd cluster answers and since when, what the host does while
it does not (offline = "local": logins are decided from this host's copy;
"deny": they are refused), how many users' offline changes are still to be
written back to etcd, and the endpoints. Without fleet mode: local.

Exit status 0 when the state is reachable (always, for local), 4 when this
host is offline (etcd does not answer), with --json too, so that monitoring
can test it; 1 refused or failed and 3 daemon unreachable, as every command.
JSON: {"backend", "online", "pending", "endpoints", "offline", "since",
"last_error"}, the last four only in fleet mode; "since" in RFC 3339.`,
	run: runClusterStatus,
}

func runClusterStatus(c *cmdCtx, _ []string) error {
	resp, err := c.call(wire.Request{Op: wire.OpClusterStatus})
	if err != nil {
		return err
	}
	st := resp.Cluster
	if st == nil || st.Backend == "" {
		return errors.New("the daemon sent no cluster status")
	}
	if c.o.json {
		if err := writeJSON(c.out(), st); err != nil {
			return err
		}
	} else {
		writeClusterStatus(c.out(), st, c.now(), c.e.loc)
	}
	if !st.Online {
		return exitError{exitOffline}
	}
	return nil
}

// writeClusterStatus prints st for people, one "key: value" line each.
func writeClusterStatus(w io.Writer, st *wire.ClusterStatus, now time.Time, loc *time.Location) {
	if st.Backend == "local" {
		fmt.Fprintln(w, "backend: local (this host only; fleet mode is off)")
		return
	}
	line := func(key, value string) { fmt.Fprintf(w, "%-10s %s\n", key+":", value) }
	line("backend", oneLine(st.Backend))

	online := yesNo(st.Online)
	var why []string
	if st.Since != "" {
		why = append(why, "since "+sinceText(st.Since, now, loc))
	}
	if !st.Online && st.LastError != "" {
		why = append(why, oneLine(st.LastError))
	}
	if len(why) > 0 {
		online += " (" + strings.Join(why, ": ") + ")"
	}
	line("online", online)

	if st.Offline != "" {
		line("offline", offlineText(st.Offline, st.Online))
	}
	pending := "none"
	if st.Pending > 0 {
		pending = plural(int64(st.Pending), "user") + " to write back"
	}
	line("pending", pending)
	endpoints := none
	if len(st.Endpoints) > 0 {
		eps := make([]string, len(st.Endpoints))
		for i, e := range st.Endpoints {
			eps[i] = oneLine(e)
		}
		endpoints = strings.Join(eps, ", ")
	}
	line("endpoints", endpoints)
}

// offlineText explains the offline setting: what the host does, or would
// do, while etcd does not answer.
func offlineText(mode string, online bool) string {
	var what string
	switch mode {
	case "local":
		what = "logins are decided from this host's copy"
	case "deny":
		what = "logins are refused"
	default:
		return oneLine(mode)
	}
	if online {
		return fmt.Sprintf("%s (when etcd does not answer, %s)", mode, what)
	}
	return fmt.Sprintf("%s (%s)", mode, what)
}

// sinceText reports an RFC 3339 time from the daemon in loc with how long
// ago it was, "2026-12-02 15:40:00 UTC, 20 minutes ago", or as sent when
// it is no such time.
func sinceText(s string, now time.Time, loc *time.Location) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return oneLine(s)
	}
	return t.In(loc).Format(layoutSecond) + ", " + relative(t, now)
}

// oneLine reports a daemon's text on one line, its runs of white space
// (newlines included) as one space.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
