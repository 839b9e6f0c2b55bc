package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/totp"
)

// Goals of ARCHITECTURE.md, "Numbers" for the daemon.
const (
	goalVerifyPerSec = 3000
	goalCPUPerVerify = 300 * time.Microsecond // totpd CPU, user + system, per verification
	goalPacedRate    = 500
	goalPacedP99     = 5 * time.Millisecond
	goalRSSKiB       = 20 << 10
	goalReady        = 200 * time.Millisecond
)

// benchUser is an enrolled account and its secret, kept in memory only
// (never printed, never written).
type benchUser struct {
	name   string
	secret []byte
	params totp.Params
}

// daemonEnv is a totpd with its scratch files, accounts and enrolled users.
type daemonEnv struct {
	b      *Bench
	dir    string
	spec   procSpec
	socket string
	names  []string
	users  []benchUser
	cl     *client.Client
	proc   *daemonProc

	badStops []string // stops that needed SIGKILL or exited non-zero

	// lastStep is the latest TOTP step of a code accepted so far: a
	// user's code is accepted once per step, so a run of successes waits
	// for a step after it.
	lastStep int64
}

// runDaemon is the daemon section: rows 1–4 of the brief.
func runDaemon(b *Bench) (rows []Row, err error) {
	a, err := b.Anchor()
	if err != nil {
		return nil, err
	}
	rows = append(rows, a.row())
	if os.Geteuid() != 0 {
		return append(rows, Row{What: "daemon rows", Ours: "not run", Status: StatusSkipped,
			Note: "need root: totpd runs in a private mount namespace where a generated /etc/passwd and /etc/group are laid over /etc (run: sudo make bench)"}), nil
	}
	totpd := filepath.Join(b.BuildDir, "totpd")
	if _, err := os.Stat(totpd); err != nil {
		return append(rows, Row{What: "daemon rows", Ours: "not run", Status: StatusMissing,
			Note: fmt.Sprintf("%s: %v (run make build, or pass -build DIR)", totpd, err)}), nil
	}

	d, err := newDaemonEnv(b, totpd)
	if err != nil {
		return rows, err
	}
	defer d.close()
	ctx := b.Ctx

	// What one account lookup costs with this many accounts in /etc/passwd:
	// What totpd no longer pays per request: it reads /etc/passwd into an
	// index once per change (daemon/engine/accounts_files.go).
	if nss, err := measureNSS(d.spec.etcOverlay, d.names); err != nil {
		rows = append(rows, Row{What: "NSS getpwnam, " + fmtInt(int64(len(d.names))) + " extra accounts", Ours: "error", Status: StatusError, Note: err.Error()})
	} else {
		rows = append(rows, Row{
			What:   fmt.Sprintf("NSS getpwnam, one of %s accounts", fmtInt(int64(len(d.names)))),
			Ours:   fmtMs(nss),
			Status: StatusInfo,
			Note: fmt.Sprintf("os/user.Lookup (cgo=%s) in a namespace like the daemon's, mean over accounts at the start, ¼, ½, ¾ and end of /etc/passwd; nss_files reads the file line by line; totpd pays this once per change of the file (its index), not per request",
				cgoSetting()),
			Value: ms(nss), Unit: "ms",
		})
	}

	// First start: creates the master key and the state; then enroll everyone.
	if d.proc, err = d.start(ctx); err != nil {
		return rows, err
	}
	b.Progressf("enrolling %s users (admin.enroll over the socket, 64 clients)", fmtInt(int64(len(d.names))))
	took, err := d.enrollAll(ctx, 64)
	if err != nil {
		return rows, err
	}
	rows = append(rows, Row{
		What:   fmt.Sprintf("enroll %s users (admin.enroll, 64 clients)", fmtInt(int64(len(d.names)))),
		Ours:   fmt.Sprintf("%.1f s = %s/s", took.Seconds(), fmtInt(int64(float64(len(d.names))/took.Seconds()))),
		Status: StatusInfo,
		Value:  float64(len(d.names)) / took.Seconds(), Unit: "enrollments/s",
	})
	stops := []time.Duration{d.stop()}

	// Start on that state a few times: exec → READY=1, first answer, RSS.
	starts := 5
	if b.Quick {
		starts = 2
	}
	var readys, answers, wrappers []time.Duration
	var rssStart, hwmStart int64
	for i := range starts {
		p, err := d.start(ctx)
		if err != nil {
			return rows, err
		}
		d.proc = p
		answered, err := d.firstAnswer(ctx)
		if err != nil {
			return rows, err
		}
		readys = append(readys, p.readyAt.Sub(p.execAt))
		answers = append(answers, answered.Sub(p.execAt))
		wrappers = append(wrappers, p.execAt.Sub(p.spawned))
		if i == starts-1 {
			if rssStart, hwmStart, err = p.memory(); err != nil {
				return rows, err
			}
			break // keep the last one running
		}
		stops = append(stops, d.stop())
	}
	rd, an, wr := summarize(readys), summarize(answers), summarize(wrappers)
	rows = append(rows, Row{
		What:   fmt.Sprintf("start, %s users: exec → READY=1", fmtInt(int64(len(d.names)))),
		Ours:   fmt.Sprintf("%s (median of %d; max %s)", fmtMs(rd.P50), starts, fmtMs(rd.Max)),
		Goal:   fmt.Sprintf("≤ %s", fmtMs(goalReady)),
		Status: judge(rd.Max <= goalReady),
		Note: fmt.Sprintf("first answer (login.query) %s after exec (median; max %s); unshare + mounts before exec took %s, not counted",
			fmtMs(an.P50), fmtMs(an.Max), fmtMs(wr.P50)),
		Value: ms(rd.P50), Unit: "ms",
		Extra: map[string]float64{"ready_max_ms": ms(rd.Max), "first_answer_p50_ms": ms(an.P50), "first_answer_max_ms": ms(an.Max)},
	})
	rows = append(rows, rssRow("RSS right after start", rssStart, hwmStart))

	// Throughput: disjoint users, each verifying its current code once.
	// Each row starts a fresh daemon, so that no row finds the accounts
	// or records another row looked up in its caches.
	a, _ = b.Anchor()
	var rss, hwm int64
	var runs []*runResult
	for i, clients := range []int{16, 64, 128} {
		if ctx.Err() != nil {
			return rows, ctx.Err()
		}
		if i > 0 {
			stops = append(stops, d.stop())
			if d.proc, err = d.start(ctx); err != nil {
				return rows, err
			}
		}
		r, err := d.throughput(ctx, clients)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r.row(clients, a))
		runs = append(runs, r)
		r1, h1, err := d.proc.memory()
		if err != nil {
			return rows, err
		}
		rss, hwm = max(rss, r1), max(hwm, h1)
	}
	rows = append(rows, cpuRow(runs))
	rows = append(rows, rssRow("RSS after a throughput run (the largest of the three; peak: the largest of theirs)", rss, hwm))

	// Latency under a steady 500/s, open loop.
	dur := 4 * time.Second
	pw, err := d.paced(ctx, goalPacedRate, dur, false)
	if err != nil {
		return rows, err
	}
	rows = append(rows, pw.pacedRow(a, true))
	ps, err := d.paced(ctx, goalPacedRate, dur, true)
	if err != nil {
		return rows, err
	}
	rows = append(rows, ps.pacedRow(a, false))

	// Durability spot check: crash right after those answers, restart,
	// replay the accepted codes while they are still inside the window.
	crow, err := d.crashCheck(ctx, ps.accepted)
	if err != nil {
		return rows, err
	}
	rows = append(rows, crow)

	stops = append(stops, d.stop())
	sr := summarize(stops)
	row := Row{What: "stop: SIGTERM → exit", Ours: fmt.Sprintf("%s (median of %d; max %s)", fmtMs(sr.P50), len(stops), fmtMs(sr.Max)),
		Goal: "exits cleanly", Status: StatusOK, Value: ms(sr.P50), Unit: "ms", Extra: map[string]float64{"max_ms": ms(sr.Max)}}
	var each []string
	for _, t := range stops {
		each = append(each, fmtMs(t))
	}
	row.Note = "in order: " + strings.Join(each, ", ") + " (the first after enrolling everyone, the last after the load runs; totpd checkpoints its journal on the way out)"
	if len(d.badStops) > 0 {
		row.Status = StatusMissed
		row.Note += "; " + strings.Join(d.badStops, "; ") + "; log: " + d.spec.log.Name()
		b.KeepWork = true
	}
	rows = append(rows, row)
	return rows, nil
}

// stop stops the running daemon (SIGTERM, then SIGKILL after 30 s) and
// reports how long it took; an unclean exit is remembered for the report.
func (d *daemonEnv) stop() time.Duration {
	p := d.proc
	p.stopped()
	if p.killed {
		d.badStops = append(d.badStops, fmt.Sprintf("pid %d needed SIGKILL after %s", p.pid, fmtMs(p.stopTook)))
	} else if err := p.exitedCleanly(); err != nil {
		d.badStops = append(d.badStops, fmt.Sprintf("pid %d: %v", p.pid, err))
	}
	return p.stopTook
}

// cpuRow is totpd's CPU per verification in the throughput runs, judged on the worst.
func cpuRow(runs []*runResult) Row {
	row := Row{What: "totpd CPU per verification (throughput runs)", Goal: "≤ " + fmtMs(goalCPUPerVerify), Unit: "ms", Extra: map[string]float64{}}
	var each []string
	worst := time.Duration(-1)
	for _, r := range runs {
		if !r.cost.ok || r.n == 0 {
			row.Ours, row.Status, row.Note = "not measured", StatusError, "the daemon's CPU time could not be read from /proc"
			return row
		}
		per := r.cost.daemon.cpu / time.Duration(r.n)
		worst = max(worst, per)
		each = append(each, fmt.Sprintf("%s at %d clients", fmtMs(per), r.clients))
		row.Extra[fmt.Sprintf("ms_at_%d_clients", r.clients)] = ms(per)
	}
	row.Ours = "worst " + fmtMs(worst)
	row.Value = ms(worst)
	row.Status = judge(worst <= goalCPUPerVerify)
	row.Note = "user + system time of the totpd process over each run, divided by its verifications: " + strings.Join(each, ", ")
	return row
}

func rssRow(what string, rss, hwm int64) Row {
	return Row{
		What:   what,
		Ours:   fmt.Sprintf("%.1f MiB", float64(rss)/1024),
		Goal:   fmt.Sprintf("≤ %d MiB", goalRSSKiB>>10),
		Status: judge(rss <= goalRSSKiB),
		Note:   fmt.Sprintf("VmRSS of the totpd process; peak so far (VmHWM) %.1f MiB", float64(hwm)/1024),
		Value:  float64(rss) / 1024, Unit: "MiB",
		Extra: map[string]float64{"vmhwm_mib": float64(hwm) / 1024},
	}
}
