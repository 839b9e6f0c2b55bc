package main

// This file drives the daemon rows' load: throughput, paced latency and the crash check.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totpd/totpd/daemon/wire"
)

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
	return d.verifyEach(ctx, clients, d.users)
}

// verifyEach runs clients concurrent callers over users, each user once
// with its current code, and times the whole. The caller sees to it that
// the codes are fresh: waitFreshStep, or users no run of this step used.
func (d *daemonEnv) verifyEach(ctx context.Context, clients int, users []benchUser) (*runResult, error) {
	d.b.Progressf("throughput: %d clients, %s users, one current code each", clients, fmtInt(int64(len(users))))
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
				if i >= len(users) || ctx.Err() != nil {
					return
				}
				u := &users[i]
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
	r := &runResult{wall: wall, outcomes: map[string]int{}, clients: clients, users: len(users), cost: c}
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
	note := fmt.Sprintf("a freshly started totpd (its account index and caches cold; the page cache and state files are not); %s distinct users, each once with its current code: %s accepted of %s in %.2f s; latency includes connect; max %s",
		fmtInt(int64(r.users)), fmtInt(int64(ok)), fmtInt(int64(r.n)), r.wall.Seconds(), fmtMs(r.lat.Max))
	if ok != r.n {
		note += "; outcomes: " + fmtOutcomes(r.outcomes)
	}
	note += r.cost.note(r.n)
	r.cost.extra(r.n, row.Extra)
	row.Note = note
	row.Goal = fmt.Sprintf("≥ %s/s", fmtInt(goalVerifyPerSec))
	row.Status = judge(rate >= goalVerifyPerSec && ok == r.n)
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
