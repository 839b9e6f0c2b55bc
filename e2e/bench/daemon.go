package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/totp"
)

// Goals of ARCHITECTURE.md, "Numbers" for the daemon.
const (
	goalVerifyPerSec = 2000
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
	// totpd looks the user up through NSS on every request.
	if nss, err := measureNSS(d.spec.etcOverlay, d.names); err != nil {
		rows = append(rows, Row{What: "NSS getpwnam, " + fmtInt(int64(len(d.names))) + " extra accounts", Ours: "error", Status: StatusError, Note: err.Error()})
	} else {
		rows = append(rows, Row{
			What:   fmt.Sprintf("NSS getpwnam, one of %s accounts", fmtInt(int64(len(d.names)))),
			Ours:   fmtMs(nss),
			Status: StatusInfo,
			Note: fmt.Sprintf("os/user.Lookup (cgo=%s) in a namespace like the daemon's, mean over accounts at the start, ¼, ½, ¾ and end of /etc/passwd; nss_files reads the file line by line, and totpd looks the user up on every request",
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
	a, _ = b.Anchor()
	for _, clients := range []int{64, 16, 128} {
		if ctx.Err() != nil {
			return rows, ctx.Err()
		}
		r, err := d.throughput(ctx, clients)
		if err != nil {
			return rows, err
		}
		rows = append(rows, r.row(clients, a))
	}
	rss, hwm, err := d.proc.memory()
	if err != nil {
		return rows, err
	}
	rows = append(rows, rssRow("RSS after the throughput runs", rss, hwm))

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

func newDaemonEnv(b *Bench, totpd string) (*daemonEnv, error) {
	dir := filepath.Join(b.WorkDir, "daemon")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	d := &daemonEnv{b: b, dir: dir, socket: filepath.Join(dir, "totpd.sock"), lastStep: -1}
	var err error
	etc := filepath.Join(dir, "etc")
	_, _, names, err := fakeUsers(etc, b.Users)
	if err != nil {
		return nil, err
	}
	d.names = names
	cfg := filepath.Join(dir, "totpd.toml")
	conf := fmt.Sprintf(`# totpd bench: a throwaway daemon
socket          = %q
state_dir       = %q
master_key_file = %q
admin_group     = ""
issuer          = "totpd-bench"

[totp]
window = 1

[lockout]
max_failures = 1000   # failure verifications in the bench must not lock anyone
duration     = "15m"

[policy]
require = "none"
`, d.socket, filepath.Join(dir, "state"), filepath.Join(dir, "master.key"))
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		return nil, err
	}
	// Keep the bench's tens of thousands of audit records out of the
	// host's journal, and keep nscd (which reads the real files) out of
	// the way: inside the namespace both directories are empty.
	var hide []string
	for _, h := range []string{"/run/systemd/journal", "/run/nscd"} {
		if fi, err := os.Stat(h); err == nil && fi.IsDir() {
			hide = append(hide, h)
		}
	}
	n, err := hostkit.ListenNotify(filepath.Join(dir, "notify.sock"))
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "totpd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.Close()
		return nil, err
	}
	d.spec = procSpec{
		totpd: totpd, config: cfg, etcOverlay: etc,
		hide: hide, emptyDir: empty, notify: n, log: logf,
		readyTimeout: 30 * time.Second, registerCleanup: true,
	}
	d.cl = client.New(d.socket, 10*time.Second)
	return d, nil
}

func (d *daemonEnv) close() {
	if d.proc != nil {
		d.proc.stopped()
	}
	d.spec.notify.Close()
	d.spec.log.Close()
}

func (d *daemonEnv) start(ctx context.Context) (*daemonProc, error) {
	return startDaemon(ctx, d.spec)
}

// firstAnswer asks a read-only question and reports when the answer came.
func (d *daemonEnv) firstAnswer(ctx context.Context) (time.Time, error) {
	_, err := d.cl.Call(ctx, wire.Request{Op: wire.OpLoginQuery, User: d.names[0], Service: "totpd-bench"})
	at := time.Now()
	if err != nil {
		return at, fmt.Errorf("first request after start: %w", err)
	}
	return at, nil
}

// enrollAll enrolls every account with admin.enroll and keeps the secrets.
func (d *daemonEnv) enrollAll(ctx context.Context, clients int) (time.Duration, error) {
	d.users = make([]benchUser, len(d.names))
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(d.names) || ctx.Err() != nil {
					return
				}
				u, err := d.enroll(ctx, d.names[i])
				if err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				d.users[i] = u
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return took, firstErr
}

func (d *daemonEnv) enroll(ctx context.Context, name string) (benchUser, error) {
	resp, err := d.cl.Call(ctx, wire.Request{Op: wire.OpUserEnroll, User: name})
	if err != nil {
		return benchUser{}, fmt.Errorf("enrolling %s: %w", name, err)
	}
	if resp.Enrollment == nil || resp.Enrollment.URI == "" {
		return benchUser{}, fmt.Errorf("enrolling %s: the answer has no enrollment URI", name)
	}
	k, err := totp.ParseURI(resp.Enrollment.URI)
	if err != nil {
		// The error may quote the URI, which holds the secret: say less.
		return benchUser{}, fmt.Errorf("enrolling %s: the answer's URI does not parse", name)
	}
	return benchUser{name: name, secret: k.Secret, params: k.Params}, nil
}

// code reports u's code for the step of now.
func (u *benchUser) code(now time.Time) (string, int64) {
	st := u.params.Step(now)
	c, err := u.params.CodeAt(u.secret, st)
	if err != nil {
		panic(err) // the params came from the daemon's URI and parsed
	}
	return c, st
}

// wrongCode reports a well-formed code that matches no step near now
// (the daemon looks at most window + max drift steps away).
func (u *benchUser) wrongCode(now time.Time) string {
	st := u.params.Step(now)
	near := map[string]bool{}
	for s := st - 8; s <= st+8; s++ {
		c, _ := u.params.CodeAt(u.secret, s)
		near[c] = true
	}
	good, _ := u.params.CodeAt(u.secret, st)
	mod := 1
	for range u.params.Digits {
		mod *= 10
	}
	var v int
	fmt.Sscan(good, &v)
	for k := 1; ; k++ {
		c := fmt.Sprintf("%0*d", u.params.Digits, (v+k*123457)%mod)
		if !near[c] {
			return c
		}
	}
}

// waitQuiet waits (up to a minute) until no checkpoint of the daemon is
// in progress — a checkpoint keeps the old journals until it is done — and
// flushes the file system, so that each timed run starts from a quiet
// daemon and pays for the checkpoints its own writes start.
func (d *daemonEnv) waitQuiet(ctx context.Context) {
	state := filepath.Join(d.dir, "state")
	deadline := time.Now().Add(time.Minute)
	said := false
	for time.Now().Before(deadline) && ctx.Err() == nil {
		n := 0
		ents, _ := os.ReadDir(state)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "journal-") {
				n++
			}
		}
		if n <= 1 {
			break
		}
		if !said {
			d.b.Progressf("waiting for the daemon's checkpoint in progress to finish")
			said = true
		}
		time.Sleep(100 * time.Millisecond)
	}
	syncfs(d.dir)
}

// waitFreshStep sleeps until the TOTP step is after every step accepted
// so far, so that every user's current code is fresh again.
func (d *daemonEnv) waitFreshStep(ctx context.Context) error {
	p := d.users[0].params
	if d.lastStep < 0 || p.Step(time.Now()) > d.lastStep {
		return nil
	}
	until := p.StepTime(d.lastStep + 1).Add(20 * time.Millisecond)
	d.b.Progressf("waiting %.0f s for the next TOTP step (each user's code is accepted once per step)", time.Until(until).Seconds())
	select {
	case <-time.After(time.Until(until)):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (d *daemonEnv) noteStep(st int64) {
	if st > d.lastStep {
		d.lastStep = st
	}
}

// outcome names what one verification got: "ok", a wire error code, or
// "unavailable" (transport).
func outcomeOf(err error) string {
	if err == nil {
		return "ok"
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return we.Code
	}
	return "unavailable"
}

func fmtOutcomes(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %s", fmtInt(int64(m[k])), k))
	}
	return strings.Join(parts, ", ")
}

// runResult is one load run.
type runResult struct {
	n        int
	wall     time.Duration
	lat      Latencies
	outcomes map[string]int
	accepted []acceptedCode // successes, in completion order (paced runs)
	late     time.Duration  // paced: how far behind schedule the sender got at worst
	clients  int
	users    int
	cost     runCost
}

// runCost is what a run cost the daemon and the load generator.
type runCost struct {
	daemon usage
	client time.Duration
	ok     bool
	// rotations counts the journal generations started during the run:
	// each starts a checkpoint that rewrites a snapshot file per user
	// (diagnostic; read from the state dir's file names).
	rotations int
}

// journalGen reports the newest journal generation in the state dir, from
// the store's file names (journal-<16 hex digits>); -1 if none is seen.
func journalGen(stateDir string) int64 {
	ents, err := os.ReadDir(stateDir)
	if err != nil {
		return -1
	}
	gen := int64(-1)
	for _, e := range ents {
		if h, ok := strings.CutPrefix(e.Name(), "journal-"); ok && len(h) == 16 {
			if v, err := strconv.ParseUint(h, 16, 63); err == nil {
				gen = max(gen, int64(v))
			}
		}
	}
	return gen
}

// measureCost starts measuring; the function it returns stops.
func (d *daemonEnv) measureCost() func() runCost {
	pid, err := d.proc.totpdPID()
	if err != nil {
		return func() runCost { return runCost{} }
	}
	state := filepath.Join(d.dir, "state")
	g0 := journalGen(state)
	u0, err := procUsage(pid)
	c0 := selfUsage()
	return func() runCost {
		u1, err1 := procUsage(pid)
		if err != nil || err1 != nil {
			return runCost{}
		}
		c := runCost{daemon: u1.sub(u0), client: selfUsage() - c0, ok: true, rotations: -1}
		if g1 := journalGen(state); g0 >= 0 && g1 >= 0 {
			c.rotations = int(g1 - g0)
		}
		return c
	}
}

// note describes the cost per request.
func (c runCost) note(n int) string {
	if !c.ok || n == 0 {
		return ""
	}
	s := fmt.Sprintf("; per request: totpd CPU %s, load generator CPU %s, %.1f KiB written to disk",
		fmtMs(c.daemon.cpu/time.Duration(n)), fmtMs(c.client/time.Duration(n)), float64(c.daemon.writeBytes)/1024/float64(n))
	if c.rotations >= 0 {
		s += fmt.Sprintf("; journal checkpoints started during the run: %d", c.rotations)
	}
	return s
}

func (c runCost) extra(n int, m map[string]float64) {
	if !c.ok || n == 0 {
		return
	}
	m["totpd_cpu_ms_per_request"] = ms(c.daemon.cpu) / float64(n)
	m["client_cpu_ms_per_request"] = ms(c.client) / float64(n)
	m["kib_written_per_request"] = float64(c.daemon.writeBytes) / 1024 / float64(n)
	if c.rotations >= 0 {
		m["checkpoints_started"] = float64(c.rotations)
	}
}

type acceptedCode struct {
	user *benchUser
	code string
	step int64
}

// throughput runs clients concurrent callers over every enrolled user,
// each user once with its current code, and times the whole.
func (d *daemonEnv) throughput(ctx context.Context, clients int) (*runResult, error) {
	if err := d.waitFreshStep(ctx); err != nil {
		return nil, err
	}
	d.b.Progressf("throughput: %d clients, %s users, one current code each", clients, fmtInt(int64(len(d.users))))
	var next atomic.Int64
	var maxStep atomic.Int64
	maxStep.Store(-1)
	lats := make([][]time.Duration, clients)
	outs := make([]map[string]int, clients)
	var wg sync.WaitGroup
	d.waitQuiet(ctx)
	cost := d.measureCost()
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		outs[w] = map[string]int{}
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(d.users) || ctx.Err() != nil {
					return
				}
				u := &d.users[i]
				t := time.Now()
				code, st := u.code(t)
				for {
					m := maxStep.Load()
					if st <= m || maxStep.CompareAndSwap(m, st) {
						break
					}
				}
				_, err := d.cl.Call(ctx, wire.Request{Op: wire.OpLoginVerify, User: u.name, Code: code, Service: "totpd-bench"})
				lats[w] = append(lats[w], time.Since(t))
				outs[w][outcomeOf(err)]++
			}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	c := cost()
	d.noteStep(maxStep.Load())
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &runResult{wall: wall, outcomes: map[string]int{}, clients: clients, users: len(d.users), cost: c}
	var all []time.Duration
	for w := range clients {
		all = append(all, lats[w]...)
		for k, v := range outs[w] {
			r.outcomes[k] += v
		}
	}
	r.n = len(all)
	r.lat = summarize(all)
	return r, nil
}

func (r *runResult) row(clients int, a *fsyncAnchor) Row {
	ok := r.outcomes["ok"]
	rate := float64(ok) / r.wall.Seconds()
	row := Row{
		What:        fmt.Sprintf("durable verifications/s, %d clients", clients),
		Ours:        fmt.Sprintf("%s/s (p50 %s, p99 %s)", fmtInt(int64(rate+0.5)), fmtMs(r.lat.P50), fmtMs(r.lat.P99)),
		Anchor:      fmt.Sprintf("%s/s", fmtInt(int64(a.opsPerSec()+0.5))),
		Ratio:       fmtRatio(rate / a.opsPerSec()),
		Value:       rate,
		Unit:        "verifications/s",
		AnchorValue: a.opsPerSec(),
		RatioValue:  rate / a.opsPerSec(),
		Extra: map[string]float64{"p50_ms": ms(r.lat.P50), "p99_ms": ms(r.lat.P99), "max_ms": ms(r.lat.Max),
			"wall_s": r.wall.Seconds(), "accepted": float64(ok), "requests": float64(r.n)},
	}
	note := fmt.Sprintf("%s distinct users, each once with its current code: %s accepted of %s in %.2f s; latency includes connect; max %s",
		fmtInt(int64(r.users)), fmtInt(int64(ok)), fmtInt(int64(r.n)), r.wall.Seconds(), fmtMs(r.lat.Max))
	if ok != r.n {
		note += "; outcomes: " + fmtOutcomes(r.outcomes)
	}
	note += r.cost.note(r.n)
	r.cost.extra(r.n, row.Extra)
	row.Note = note
	if clients == 64 {
		row.Goal = fmt.Sprintf("≥ %s/s", fmtInt(goalVerifyPerSec))
		row.Status = judge(rate >= goalVerifyPerSec && ok == r.n)
	} else {
		row.Goal = "(info)"
	}
	return row
}

// paced sends rate requests a second for dur, open loop: each request
// goes out at its scheduled instant in its own goroutine, whatever the
// ones before it are doing, and its latency counts from that instant (so
// a sender that falls behind shows up in the numbers). success chooses
// fresh current codes (distinct users) or wrong codes (a durable failure
// record each).
func (d *daemonEnv) paced(ctx context.Context, rate int, dur time.Duration, success bool) (*runResult, error) {
	n := int(float64(rate) * dur.Seconds())
	if n > len(d.users) {
		n = len(d.users)
	}
	if success {
		if err := d.waitFreshStep(ctx); err != nil {
			return nil, err
		}
	}
	kind := "wrong codes"
	if success {
		kind = "fresh current codes"
	}
	d.b.Progressf("paced: %d/s for %v, %s, %s distinct users", rate, dur, kind, fmtInt(int64(n)))
	interval := time.Second / time.Duration(rate)
	// Users from the end of the list, so the wrong-code run and the
	// success run do not share users.
	pick := func(i int) *benchUser {
		if success {
			return &d.users[len(d.users)-1-i]
		}
		return &d.users[i]
	}
	lats := make([]time.Duration, n)
	outs := make([]string, n)
	codes := make([]acceptedCode, n)
	var maxStep atomic.Int64
	maxStep.Store(-1)
	var wg sync.WaitGroup
	var late time.Duration
	d.waitQuiet(ctx)
	cost := d.measureCost()
	start := time.Now().Add(10 * time.Millisecond)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		} else {
			late = max(late, -w)
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := pick(i)
			now := time.Now()
			var code string
			var st int64
			if success {
				code, st = u.code(now)
				for {
					m := maxStep.Load()
					if st <= m || maxStep.CompareAndSwap(m, st) {
						break
					}
				}
			} else {
				code = u.wrongCode(now)
			}
			_, err := d.cl.Call(ctx, wire.Request{Op: wire.OpLoginVerify, User: u.name, Code: code, Service: "totpd-bench"})
			lats[i] = time.Since(at)
			outs[i] = outcomeOf(err)
			codes[i] = acceptedCode{user: u, code: code, step: st}
		}()
	}
	wg.Wait()
	wall := time.Since(start)
	c := cost()
	if success {
		d.noteStep(maxStep.Load())
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &runResult{n: n, wall: wall, lat: summarize(lats), outcomes: map[string]int{}, late: late, users: n, cost: c}
	for i, o := range outs {
		r.outcomes[o]++
		if o == "ok" {
			r.accepted = append(r.accepted, codes[i])
		}
	}
	return r, nil
}

func (r *runResult) pacedRow(a *fsyncAnchor, wrong bool) Row {
	what := fmt.Sprintf("p99 at %d/s paced, fresh successes", goalPacedRate)
	want, good := "ok", r.outcomes["ok"]
	if wrong {
		what = fmt.Sprintf("p99 at %d/s paced, wrong codes", goalPacedRate)
		want, good = "denied", r.outcomes[wire.ErrCodeDenied]
	}
	row := Row{
		What:        what,
		Ours:        fmt.Sprintf("%s (p50 %s)", fmtMs(r.lat.P99), fmtMs(r.lat.P50)),
		Anchor:      fmtMs(a.Mean),
		Ratio:       fmtRatio(float64(r.lat.P99) / float64(a.Mean)),
		Goal:        "≤ " + fmtMs(goalPacedP99),
		Status:      judge(r.lat.P99 <= goalPacedP99 && good == r.n),
		Value:       ms(r.lat.P99),
		Unit:        "ms",
		AnchorValue: ms(a.Mean),
		RatioValue:  float64(r.lat.P99) / float64(a.Mean),
		Extra:       map[string]float64{"p50_ms": ms(r.lat.P50), "max_ms": ms(r.lat.Max), "requests": float64(r.n), "sender_late_ms": ms(r.late)},
	}
	kind := "each a fresh current code of a distinct user (durable success record)"
	if wrong {
		kind = "each a wrong code for a distinct user (durable failure record; max_failures = 1000 so nobody locks)"
	}
	row.Note = fmt.Sprintf("open loop, %s requests over %.1f s, %s; latency from the scheduled send time, connect included; %s %s of %s; max %s; sender at worst %s behind schedule; ratio = p99 / anchor mean",
		fmtInt(int64(r.n)), r.wall.Seconds(), kind, fmtInt(int64(good)), want, fmtInt(int64(r.n)), fmtMs(r.lat.Max), fmtMs(r.late))
	if good != r.n {
		row.Note += "; outcomes: " + fmtOutcomes(r.outcomes)
	}
	row.Note += r.cost.note(r.n)
	r.cost.extra(r.n, row.Extra)
	return row
}

// crashCheck kills totpd with SIGKILL right after the answers in acc were
// received, restarts it, and sends the same codes again while they are
// still inside the window: an answer that was durable refuses them all.
func (d *daemonEnv) crashCheck(ctx context.Context, acc []acceptedCode) (Row, error) {
	const sample = 200
	if len(acc) > sample {
		acc = acc[len(acc)-sample:]
	}
	row := Row{What: fmt.Sprintf("durability: SIGKILL, restart, replay %d accepted codes", len(acc)), Goal: "0 accepted again"}
	if len(acc) == 0 {
		row.Ours, row.Status = "no accepted codes to replay", StatusError
		return row, nil
	}
	d.b.Progressf("durability: SIGKILL totpd, restart, replay %d accepted codes", len(acc))
	d.proc.kill()
	p, err := d.start(ctx)
	if err != nil {
		return row, fmt.Errorf("restart after SIGKILL: %w", err)
	}
	d.proc = p
	ready := p.readyAt.Sub(p.execAt)
	outs := map[string]int{}
	inWindow := 0
	for _, a := range acc {
		now := a.user.params.Step(time.Now())
		if now > a.step+1 { // window = 1: an older code is refused anyway, proving nothing
			continue
		}
		inWindow++
		_, err := d.cl.Call(ctx, wire.Request{Op: wire.OpLoginVerify, User: a.user.name, Code: a.code, Service: "totpd-bench"})
		outs[outcomeOf(err)]++
	}
	again := outs["ok"]
	row.Ours = fmt.Sprintf("%d of %d accepted again", again, inWindow)
	row.Value, row.Unit = float64(again), "accepted again"
	switch {
	case inWindow == 0:
		row.Status = StatusError
		row.Note = "the step moved on before the replay: inconclusive"
	default:
		row.Status = judge(again == 0)
		row.Note = fmt.Sprintf("restart after SIGKILL ready in %s (exec → READY=1); replay outcomes: %s", fmtMs(ready), fmtOutcomes(outs))
	}
	return row, nil
}
