package main

// This file is the fleet section (PRODUCT.md §5 and §8): a 3-member etcd
// on loopback (e2e/etcdkit, TLS with client certificates and an RBAC user
// limited to the prefix, as README sets it up), one totpd host on it, and
// the same verifications against the local store in the same run, on the
// same state: the host is first measured with the local store, then moved
// into the cluster ([cluster] backend = "etcd" and a restart, as README
// tells an administrator) and measured again.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/etcdkit"
)

// Goals of PRODUCT.md §5 for fleet mode.
const (
	goalFleetP50    = 10 * time.Millisecond
	goalFleetPerSec = 500
	fleetClients    = 64
	fleetSequential = 200 // sequential verifications, each of a distinct user
)

// fleetRuns are one backend's measurements.
type fleetRuns struct {
	seq, load *runResult
}

func runFleet(b *Bench) (rows []Row, err error) {
	if os.Geteuid() != 0 {
		return []Row{{What: "fleet rows", Ours: "not run", Status: StatusSkipped,
			Note: "need root, as the daemon rows (run: sudo make bench)"}}, nil
	}
	totpd := filepath.Join(b.BuildDir, "totpd")
	if _, err := os.Stat(totpd); err != nil {
		return []Row{{What: "fleet rows", Ours: "not run", Status: StatusMissing,
			Note: fmt.Sprintf("%s: %v (run make build, or pass -build DIR)", totpd, err)}}, nil
	}
	if _, err := os.Stat(etcdkit.Binary); err != nil {
		return []Row{{What: "fleet rows", Ours: "not run", Status: StatusMissing,
			Note: fmt.Sprintf("%s: %v (Debian: etcd-server; make deps installs it)", etcdkit.Binary, err)}}, nil
	}
	ctx := b.Ctx

	d, err := newDaemonEnvIn(b, totpd, "fleet")
	if err != nil {
		return nil, err
	}
	defer d.close()
	// Moving every user into the cluster happens before READY=1.
	d.spec.readyTimeout = 5 * time.Minute

	// The host with its local store: enroll everyone, then measure on a
	// fresh start, as the daemon rows do.
	if d.proc, err = d.start(ctx); err != nil {
		return nil, err
	}
	b.Progressf("fleet: enrolling %s users in the local store (64 clients)", fmtInt(int64(len(d.names))))
	if _, err := d.enrollAll(ctx, 64); err != nil {
		return nil, err
	}
	d.stop()
	if d.proc, err = d.start(ctx); err != nil {
		return nil, err
	}
	b.Progressf("fleet: the local store")
	local, err := d.fleetMeasure(ctx, nil)
	if err != nil {
		return nil, err
	}
	localRSS, localHWM, _ := d.proc.memory()
	d.stop()

	// The etcd cluster, and the same host moved into it.
	b.Progressf("fleet: starting 3 etcd members on 127.0.0.1 (TLS, client certificates, RBAC)")
	t0 := time.Now()
	etcd, stopEtcd, err := startEtcd(b)
	if err != nil {
		return rows, err
	}
	defer func() { // the host first: it talks to etcd until it stops
		if d.proc != nil {
			d.proc.stopped()
		}
		stopEtcd()
	}()
	rows = append(rows, Row{
		What:   "fleet: etcd, 3 members on 127.0.0.1",
		Ours:   fmt.Sprintf("up in %.1f s", time.Since(t0).Seconds()),
		Status: StatusInfo,
		Note: fmt.Sprintf("%s; data dirs in the scratch directory (%s); clients and peers over TLS with client certificates, totpd as an RBAC user with readwrite on /totpd/ only (README, \"Fleet mode\")",
			etcdVersion(), filepath.Join(b.WorkDir, "fleet", "etcd")),
		Value: time.Since(t0).Seconds(), Unit: "s",
	})
	if err := d.writeConfig(etcd.ClusterTOML()); err != nil {
		return rows, err
	}
	logAt := logSize(d.spec.log.Name())
	b.Progressf("fleet: restarting totpd with [cluster] backend = \"etcd\": it moves its %s users into the cluster before READY=1", fmtInt(int64(len(d.users))))
	if d.proc, err = d.start(ctx); err != nil {
		return rows, err
	}
	moved := strings.Count(logSince(d.spec.log.Name(), logAt), "cluster: moved user ")
	took := d.proc.readyAt.Sub(d.proc.execAt)
	mrow := Row{
		What:   fmt.Sprintf("fleet: move %s users into the cluster at start (exec → READY=1)", fmtInt(int64(len(d.users)))),
		Ours:   fmt.Sprintf("%.1f s = %s/s", took.Seconds(), fmtInt(int64(float64(moved)/took.Seconds()))),
		Status: StatusInfo,
		Note:   fmt.Sprintf("[cluster] backend = \"etcd\" set and totpd restarted, README's way of moving a host's users; the log says \"moved user\" %s times", fmtInt(int64(moved))),
		Value:  took.Seconds(), Unit: "s",
	}
	if moved != len(d.users) {
		mrow.Status = StatusError
		mrow.Note += fmt.Sprintf(", want %s; log: %s", fmtInt(int64(len(d.users))), d.spec.log.Name())
		b.KeepWork = true
	}
	rows = append(rows, mrow)
	if err := d.wantOnline(ctx); err != nil {
		return rows, err
	}
	etcdPids := etcd.Pids()
	b.Progressf("fleet: the etcd backend")
	e0 := sumUsage(etcdPids)
	fleet, err := d.fleetMeasure(ctx, etcdPids)
	if err != nil {
		return rows, err
	}
	etcdCost := sumUsage(etcdPids).sub(e0)
	fleetRSS, fleetHWM, _ := d.proc.memory()
	// A host that went offline during the runs decided from its local
	// copy: its numbers would not be fleet mode's.
	offline := strings.Count(logSince(d.spec.log.Name(), logAt), "cluster: offline")
	after := d.wantOnline(ctx)
	d.stop()
	stopEtcd()

	rows = append(rows, fleetRows(local, fleet, etcdCost, offline)...)
	rows = append(rows, Row{
		What:   "fleet: totpd RSS after the runs",
		Ours:   fmt.Sprintf("%.1f MiB", float64(fleetRSS)/1024),
		Anchor: fmt.Sprintf("local %.1f MiB", float64(localRSS)/1024),
		Ratio:  fmtRatio(float64(fleetRSS) / float64(max(localRSS, 1))),
		Status: StatusInfo,
		Note: fmt.Sprintf("VmRSS of the totpd process after its runs above (the etcd client, its TLS connections and the watch on top of the local store); peak (VmHWM): fleet %.1f MiB, local %.1f MiB",
			float64(fleetHWM)/1024, float64(localHWM)/1024),
		Value: float64(fleetRSS) / 1024, Unit: "MiB", AnchorValue: float64(localRSS) / 1024,
		Extra: map[string]float64{"fleet_vmhwm_mib": float64(fleetHWM) / 1024, "local_vmhwm_mib": float64(localHWM) / 1024},
	})
	if after != nil {
		rows = append(rows, Row{What: "fleet: online after the runs", Ours: "no", Status: StatusError, Note: after.Error()})
	}
	if offline > 0 || after != nil {
		b.KeepWork = true
	}
	if len(d.badStops) > 0 {
		rows = append(rows, Row{What: "fleet: totpd stops", Ours: "unclean", Status: StatusError,
			Note: strings.Join(d.badStops, "; ") + "; log: " + d.spec.log.Name()})
		b.KeepWork = true
	}
	return rows, nil
}

// fleetMeasure measures the running daemon: fleetSequential
// verifications one after another, then fleetClients concurrent
// clients over the other users, each user once with its current code.
func (d *daemonEnv) fleetMeasure(ctx context.Context, others []int) (fleetRuns, error) {
	if err := d.waitFreshStep(ctx); err != nil {
		return fleetRuns{}, err
	}
	d.waitIdle(ctx, others)
	n := min(fleetSequential, len(d.users)/2)
	seq, err := d.verifyEach(ctx, 1, d.users[:n])
	if err != nil {
		return fleetRuns{}, err
	}
	load, err := d.verifyEach(ctx, fleetClients, d.users[n:])
	if err != nil {
		return fleetRuns{}, err
	}
	return fleetRuns{seq: seq, load: load}, nil
}

// waitIdle waits (up to a minute) until totpd and the processes others
// (the etcd members) have used under a tenth of a CPU for a second: a
// host that has just started in fleet mode is still applying the watch's
// replay of its own moves into the cluster and checkpointing its local
// copy, which a sequential latency would otherwise measure.
func (d *daemonEnv) waitIdle(ctx context.Context, others []int) {
	pid, err := d.proc.totpdPID()
	if err != nil {
		return
	}
	pids := append([]int{pid}, others...)
	deadline := time.Now().Add(time.Minute)
	const every = 250 * time.Millisecond
	quiet, said := 0, false
	prev := sumUsage(pids)
	for quiet < 4 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(every)
		u := sumUsage(pids)
		if u.cpu-prev.cpu < every/10 {
			quiet++
		} else {
			quiet = 0
			if !said {
				d.b.Progressf("waiting for totpd (and etcd) to settle after the start")
				said = true
			}
		}
		prev = u
	}
}

// wantOnline asks totpd (admin.cluster-status) and wants it online.
func (d *daemonEnv) wantOnline(ctx context.Context) error {
	resp, err := d.cl.Call(ctx, wire.Request{Op: wire.OpClusterStatus})
	if err != nil {
		return fmt.Errorf("admin.cluster-status: %w", err)
	}
	s := resp.Cluster
	if s == nil || s.Backend != "etcd" || !s.Online || s.Pending != 0 {
		return fmt.Errorf("admin.cluster-status: want backend etcd, online, 0 pending; got %+v (log: %s)", s, d.spec.log.Name())
	}
	return nil
}

func fleetRows(local, fleet fleetRuns, etcdCost usage, offline int) []Row {
	okAll := func(r *runResult) bool { return r.outcomes["ok"] == r.n }
	outcomes := func(r *runResult) string {
		if okAll(r) {
			return ""
		}
		return "; outcomes: " + fmtOutcomes(r.outcomes)
	}
	var warn string
	if offline > 0 {
		warn = fmt.Sprintf("; the host went offline %d times during the runs (its log says \"cluster: offline\"): these are not online numbers", offline)
	}
	fs, ls := fleet.seq, local.seq
	seqNote := fmt.Sprintf("one client, %s distinct users each once with its current code, one request after another, connect included; ours-fleet: %s accepted of %s%s; ours-local: the same host and users before it moved into the cluster, %s accepted of %s%s; ratio = fleet / local",
		fmtInt(int64(fs.n)), fmtInt(int64(fs.outcomes["ok"])), fmtInt(int64(fs.n)), outcomes(fs),
		fmtInt(int64(ls.outcomes["ok"])), fmtInt(int64(ls.n)), outcomes(ls))
	p50 := Row{
		What:        "fleet: one verification, sequential, p50",
		Ours:        fmtMs(fs.lat.P50),
		Anchor:      "local " + fmtMs(ls.lat.P50),
		Ratio:       fmtRatio(float64(fs.lat.P50) / float64(ls.lat.P50)),
		Goal:        "≤ " + fmtMs(goalFleetP50),
		Status:      judge(fs.lat.P50 <= goalFleetP50 && okAll(fs) && okAll(ls) && offline == 0),
		Note:        seqNote + warn,
		Value:       ms(fs.lat.P50),
		Unit:        "ms",
		AnchorValue: ms(ls.lat.P50),
		RatioValue:  float64(fs.lat.P50) / float64(ls.lat.P50),
		Extra:       map[string]float64{"fleet_mean_ms": ms(fs.lat.Mean), "fleet_max_ms": ms(fs.lat.Max), "local_mean_ms": ms(ls.lat.Mean), "local_max_ms": ms(ls.lat.Max)},
	}
	p99 := Row{
		What:        "fleet: one verification, sequential, p99",
		Ours:        fmtMs(fs.lat.P99),
		Anchor:      "local " + fmtMs(ls.lat.P99),
		Ratio:       fmtRatio(float64(fs.lat.P99) / float64(ls.lat.P99)),
		Status:      StatusInfo,
		Note:        fmt.Sprintf("the same %s verifications; max: fleet %s, local %s", fmtInt(int64(fs.n)), fmtMs(fs.lat.Max), fmtMs(ls.lat.Max)),
		Value:       ms(fs.lat.P99),
		Unit:        "ms",
		AnchorValue: ms(ls.lat.P99),
		RatioValue:  float64(fs.lat.P99) / float64(ls.lat.P99),
	}
	if !okAll(fs) || !okAll(ls) || offline > 0 {
		p99.Status = StatusError
		p99.Note += outcomes(fs) + warn
	}

	fl, ll := fleet.load, local.load
	frate := float64(fl.outcomes["ok"]) / fl.wall.Seconds()
	lrate := float64(ll.outcomes["ok"]) / ll.wall.Seconds()
	load := Row{
		What:        fmt.Sprintf("fleet: durable verifications/s, %d clients", fleetClients),
		Ours:        fmt.Sprintf("%s/s (p50 %s, p99 %s)", fmtInt(int64(frate+0.5)), fmtMs(fl.lat.P50), fmtMs(fl.lat.P99)),
		Anchor:      fmt.Sprintf("local %s/s (p50 %s, p99 %s)", fmtInt(int64(lrate+0.5)), fmtMs(ll.lat.P50), fmtMs(ll.lat.P99)),
		Ratio:       fmtRatio(frate / lrate),
		Goal:        fmt.Sprintf("≥ %s/s", fmtInt(goalFleetPerSec)),
		Status:      judge(frate >= goalFleetPerSec && okAll(fl) && okAll(ll) && offline == 0),
		Value:       frate,
		Unit:        "verifications/s",
		AnchorValue: lrate,
		RatioValue:  frate / lrate,
		Extra: map[string]float64{"fleet_p50_ms": ms(fl.lat.P50), "fleet_p99_ms": ms(fl.lat.P99), "fleet_wall_s": fl.wall.Seconds(),
			"local_p50_ms": ms(ll.lat.P50), "local_p99_ms": ms(ll.lat.P99), "local_wall_s": ll.wall.Seconds()},
	}
	note := fmt.Sprintf("%s distinct users, each once with its current code: fleet %s accepted of %s in %.2f s%s, local %s accepted of %s in %.2f s%s; latency includes connect; a fleet verification is a linearizable read and a transaction on the record's revision, each a Raft round (3 fsyncs), and the watch's write of the host's local copy",
		fmtInt(int64(fl.n)), fmtInt(int64(fl.outcomes["ok"])), fmtInt(int64(fl.n)), fl.wall.Seconds(), outcomes(fl),
		fmtInt(int64(ll.outcomes["ok"])), fmtInt(int64(ll.n)), ll.wall.Seconds(), outcomes(ll))
	if fl.cost.ok && fl.n > 0 && ll.cost.ok && ll.n > 0 {
		note += fmt.Sprintf("; totpd CPU per request: fleet %s, local %s", fmtMs(fl.cost.daemon.cpu/time.Duration(fl.n)), fmtMs(ll.cost.daemon.cpu/time.Duration(ll.n)))
		load.Extra["fleet_totpd_cpu_ms_per_request"] = ms(fl.cost.daemon.cpu) / float64(fl.n)
		load.Extra["local_totpd_cpu_ms_per_request"] = ms(ll.cost.daemon.cpu) / float64(ll.n)
	}
	if n := fs.n + fl.n; n > 0 && etcdCost.cpu > 0 {
		note += fmt.Sprintf("; the 3 etcd members' CPU per verification (sequential and concurrent runs together): %s, %.1f KiB written", fmtMs(etcdCost.cpu/time.Duration(n)), float64(etcdCost.writeBytes)/1024/float64(n))
		load.Extra["etcd_cpu_ms_per_verification"] = ms(etcdCost.cpu) / float64(n)
	}
	load.Note = note + "; ratio = fleet / local" + warn
	return []Row{p50, p99, load}
}

// sumUsage adds up what the living processes among pids have spent.
func sumUsage(pids []int) usage {
	var u usage
	for _, pid := range pids {
		if p, err := procUsage(pid); err == nil {
			u.cpu += p.cpu
			u.writeBytes += p.writeBytes
		}
	}
	return u
}

func etcdVersion() string {
	out, err := exec.Command(etcdkit.Binary, "--version").Output()
	if err != nil {
		return "etcd (version unknown)"
	}
	first, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(first)
}

func logSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logSince reports what path holds past offset.
func logSince(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < offset {
		return ""
	}
	return string(b[offset:])
}

// startEtcd starts etcdkit's cluster from this program (benchTB stands
// in for a test); stop stops it, once, and runs at exit or on a signal
// if the section does not get there.
func startEtcd(b *Bench) (c *etcdkit.Cluster, stop func(), err error) {
	tb := &benchTB{b: b, dir: filepath.Join(b.WorkDir, "fleet", "etcd")}
	stop = cleanupOnExit(tb.cleanup)
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(benchFatal)
			if !ok {
				panic(r)
			}
			stop()
			c, err = nil, errors.New(string(f))
		}
	}()
	c = etcdkit.Start(tb, etcdkit.Options{TLS: true, RBAC: true})
	return c, stop, nil
}

// benchTB is etcdkit.TB for a program: Fatalf panics with benchFatal,
// which startEtcd turns into an error; Cleanup's functions run at
// cleanup, last first.
type benchTB struct {
	b      *Bench
	dir    string
	mu     sync.Mutex
	n      int
	failed bool
	fns    []func()
}

type benchFatal string

func (t *benchTB) Helper() {}

func (t *benchTB) Cleanup(fn func()) {
	t.mu.Lock()
	t.fns = append(t.fns, fn)
	t.mu.Unlock()
}

func (t *benchTB) TempDir() string {
	t.mu.Lock()
	t.n++
	dir := filepath.Join(t.dir, fmt.Sprint(t.n))
	t.mu.Unlock()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("etcdkit: %v", err)
	}
	return dir
}

func (t *benchTB) Logf(format string, args ...any) { t.b.Progressf(format, args...) }

func (t *benchTB) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	t.b.Progressf(format, args...)
}

func (t *benchTB) Fatalf(format string, args ...any) {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	panic(benchFatal(fmt.Sprintf(format, args...)))
}

func (t *benchTB) Failed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *benchTB) cleanup() {
	t.mu.Lock()
	fns := t.fns
	t.fns = nil
	t.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}
