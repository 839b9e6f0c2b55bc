package main

// The PAM and sshd rows of ARCHITECTURE.md, "Numbers": ours (pam_totpd.so talking to a
// real totpd) and the anchor (pam_google_authenticator) measured side by
// side, interleaved, in the same run, on the same real accounts.
//
//   - pam: one PAM authentication as a whole process, `pamtester` with
//     pam_totpd.so vs pam_google_authenticator with DISALLOW_REUSE (goal
//     ratio ≤ 1.25) and vs pam_oath (a second anchor, no goal); beside
//     them, the floors of this design (floor.go), interleaved with them.
//   - ssh: real sshd keyboard-interactive login p50, ours vs GA, same
//     sshd config (sequential), and 300 logins at 10 concurrent with 0
//     failures; goal ratio ≤ 1.05.
//
// The machinery (accounts, daemon, PAM services, sshd) is in host.go.

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Goals of ARCHITECTURE.md, "Numbers", for the PAM and sshd rows.
const (
	goalPAMRatio     = 1.25 // pamtester, ours / GA
	goalSSHRatio     = 1.03 // sshd login p50, ours / GA
	goalSSHConcRatio = 1.05 // 300 sshd logins at 10 concurrent, wall, ours / GA, with 0 failures
)

// pamCounts says how much the pam section measures: rounds, each of
// perFloor runs of every floor and perAuth authentications with each of
// ours, GA and pam_oath, all interleaved.
func pamCounts(quick bool) (rounds, perFloor, perAuth int) {
	if quick {
		return 3, 10, 5
	}
	// 192 authentications each (of the 200 accounts, as GA and pam_oath
	// take one code per account and step): fewer left this VM's spread
	// at ±0.05 in the ratio.
	return 16, 7, 12
}

func runPAM(b *Bench) ([]Row, error) {
	row := Row{What: "pamtester auth, ours / GA", Goal: fmt.Sprintf("ratio ≤ %.2f", goalPAMRatio)}
	oathRow := Row{What: "pamtester auth, ours / pam_oath"}
	// The floor's helpers build while the accounts are made.
	type built struct {
		k   *floorKit
		err error
	}
	kc := make(chan built, 1)
	go func() {
		k, err := buildFloor(b)
		kc <- built{k, err}
	}()
	h, why := hostFor(b)
	kb := <-kc
	kit := kb.k
	var rows []Row
	if kb.err != nil {
		rows = append(rows, Row{What: "floor (a)–(d): building the helpers", Ours: "error", Status: StatusError, Note: kb.err.Error()})
	}
	rounds, perFloor, perAuth := pamCounts(b.Quick)
	fl := make([][]time.Duration, 4) // (a)–(d), from floordrv
	measureKit := func(n int) error {
		if kit == nil {
			return nil
		}
		got, err := kit.measure(b, n)
		if err != nil {
			return err
		}
		for i := range fl {
			fl[i] = append(fl[i], got[i]...)
		}
		return nil
	}
	if why != "" {
		// The C and Go floors need no root: measure them alone.
		if err := measureKit(rounds * perFloor); err != nil {
			return rows, err
		}
		rows = append(rows, floorRows(kit, fl, nil, nil)...)
		row.Ours, row.Status, row.Note = "not measured", StatusSkipped, why
		return append(rows, row), nil
	}

	ours, err := h.service("pam-ours", h.oursAuth())
	if err != nil {
		return rows, err
	}
	ga, err := h.service("pam-ga", h.gaReuseAuth())
	if err != nil {
		return rows, err
	}
	oath := ""
	if h.oathFile != "" {
		if oath, err = h.service("pam-oath", h.oathAuth()); err != nil {
			return rows, err
		}
	}
	permit, err := h.service("pam-permit", "auth required pam_permit.so\n")
	if err != nil {
		return rows, err
	}
	nowhere := filepath.Join(h.dir, "nothing-listens.sock")
	noDaemon, err := h.service("pam-nodaemon", fmt.Sprintf("auth required %s socket=%s timeout=2\n", h.module, nowhere))
	if err != nil {
		return rows, err
	}
	const unavail = "Authentication service cannot retrieve authentication info" // PAM_AUTHINFO_UNAVAIL

	// Every stack must refuse a wrong code, or the timings mean nothing.
	u0 := h.users[0]
	if _, err := h.pamtester(ours, u0.name, u0.ours.wrongCode(time.Now())); err == nil {
		return rows, fmt.Errorf("ours accepted a wrong code: the stack is not checking")
	}
	if _, err := h.pamtester(ga, u0.name, u0.anchorWrongCode(time.Now())); err == nil {
		return rows, fmt.Errorf("GA accepted a wrong code: the stack is not checking")
	}
	if oath != "" {
		if _, err := h.pamtester(oath, u0.name, u0.anchorWrongCode(time.Now())); err == nil {
			return rows, fmt.Errorf("pam_oath accepted a wrong code: the stack is not checking")
		}
	}
	// GA (DISALLOW_REUSE) and pam_oath take a code once: each
	// authentication with them is another user's current code.
	if 4+rounds*perAuth > len(h.users) {
		return rows, fmt.Errorf("%d authentications want as many users; there are %d", 4+rounds*perAuth, len(h.users))
	}
	// And every stack must refuse a code it has just taken, or the anchors
	// do less than ours.
	next := 0
	{
		u, code, err := h.alloc.take(b.Ctx)
		if err != nil {
			return rows, err
		}
		au := h.users[next]
		next++
		acode := au.gaCode(time.Now())
		for _, s := range []struct{ name, service, user, code string }{
			{"ours", ours, h.users[u].name, code}, {"GA", ga, au.name, acode}, {"pam_oath", oath, au.name, acode},
		} {
			if s.service == "" {
				continue
			}
			if _, err := h.pamtester(s.service, s.user, s.code); err != nil {
				return rows, fmt.Errorf("%s refused a fresh code: %v", s.name, err)
			}
			if _, err := h.pamtester(s.service, s.user, s.code); err == nil {
				return rows, fmt.Errorf("%s accepted a replayed code: it does not refuse replays", s.name)
			}
		}
	}
	var to, tg, th, te, tf []time.Duration
	var fo, fg, fh, fe, ff int
	auth := func(timed bool) error {
		u, code, err := h.alloc.take(b.Ctx)
		if err != nil {
			return err
		}
		d, err := h.pamtester(ours, h.users[u].name, code)
		if timed {
			to = append(to, d)
		}
		if err != nil {
			fo++
			b.Progressf("pamtester ours %s: %v", h.users[u].name, err)
		}
		au := h.users[next]
		next++
		d, err = h.pamtester(ga, au.name, au.gaCode(time.Now()))
		if timed {
			tg = append(tg, d)
		}
		if err != nil {
			fg++
			b.Progressf("pamtester GA %s: %v", au.name, err)
		}
		if oath != "" {
			d, err = h.pamtester(oath, au.name, au.gaCode(time.Now()))
			if timed {
				th = append(th, d)
			}
			if err != nil {
				fh++
				b.Progressf("pamtester pam_oath %s: %v", au.name, err)
			}
		}
		return nil
	}
	pamFloors := func(timed bool) {
		d, err := h.pamtester(permit, u0.name, "")
		if timed {
			te = append(te, d)
		}
		if err != nil {
			fe++
			b.Progressf("pamtester pam_permit: %v", err)
		}
		d, err = h.pamtesterFails(noDaemon, u0.name, "000000", unavail)
		if timed {
			tf = append(tf, d)
		}
		if err != nil {
			ff++
			b.Progressf("pamtester pam_totpd.so, no daemon: %v", err)
		}
	}
	pamFloors(false) // warm-up
	for range 3 {
		if err := auth(false); err != nil {
			return rows, err
		}
	}
	for r := 0; r < rounds && b.Ctx.Err() == nil; r++ {
		if err := measureKit(perFloor); err != nil {
			return rows, err
		}
		for range perFloor {
			pamFloors(true)
		}
		for range perAuth {
			if err := auth(true); err != nil {
				return rows, err
			}
		}
	}
	so, sg, sh := summarize(to), summarize(tg), summarize(th)
	if so.N == 0 || sg.N == 0 {
		return rows, b.Ctx.Err()
	}
	rows = append(rows, floorRows(kit, fl, te, tf)...)
	if fe > 0 || ff > 0 {
		rows = append(rows, Row{What: "floor (e), (f): failed runs", Ours: fmt.Sprintf("(e) %d, (f) %d", fe, ff), Status: StatusError,
			Note: "(e) must succeed and (f) must answer PAM_AUTHINFO_UNAVAIL; the first failures are on stderr"})
	}
	permitP50, noDaemonP50 := summarize(te).P50, summarize(tf).P50
	above := fmt.Sprintf("p50 above floor (e), pamtester with pam_permit: ours %s, GA %s", fmtDelta(so.P50-permitP50), fmtDelta(sg.P50-permitP50))
	if oath != "" {
		above += fmt.Sprintf(", pam_oath %s", fmtDelta(sh.P50-permitP50))
	}
	above += fmt.Sprintf("; ours above floor (f), no daemon (the daemon's part): %s", fmtDelta(so.P50-noDaemonP50))
	n := rounds * perAuth
	method := fmt.Sprintf("%d runs each, interleaved with each other (%d rounds of %d, between the floors' runs), after 3 warm-up runs each; a whole `pamtester SERVICE USER authenticate` process, code on stdin", n, rounds, perAuth)

	r := float64(so.Mean) / float64(sg.Mean)
	row.Ours = fmt.Sprintf("mean %s, p50 %s", fmtMs(so.Mean), fmtMs(so.P50))
	row.Anchor = fmt.Sprintf("GA (DISALLOW_REUSE) mean %s, p50 %s", fmtMs(sg.Mean), fmtMs(sg.P50))
	row.Ratio = fmtRatio(r) + fmt.Sprintf(" (p50 %s)", fmtRatio(float64(so.P50)/float64(sg.P50)))
	row.Value, row.Unit, row.AnchorValue, row.RatioValue = ms(so.Mean), "ms", ms(sg.Mean), r
	row.Extra = map[string]float64{"ours_p50_ms": ms(so.P50), "ga_p50_ms": ms(sg.P50), "ours_fail": float64(fo), "ga_fail": float64(fg),
		"ours_above_permit_p50_ms": ms(so.P50 - permitP50), "ga_above_permit_p50_ms": ms(sg.P50 - permitP50), "ours_above_nodaemon_p50_ms": ms(so.P50 - noDaemonP50)}
	row.Status = judge(r <= goalPAMRatio && fo == 0 && fg == 0)
	row.Note = fmt.Sprintf("%s; ours: `auth required pam_totpd.so socket=… timeout=5`, a fresh TOTP code each time; GA: `auth required pam_google_authenticator.so secret=…/${USER} user=root`, secret file with TOTP_AUTH and DISALLOW_REUSE (ours always refuses a replay), each run another user's current code; every stack refused a wrong code and a replayed one first; failures ours %d, GA %d; ratio of means; %s", method, fo, fg, above)
	rows = append(rows, row)

	if oath == "" {
		oathRow.Ours, oathRow.Status, oathRow.Note = "not measured", StatusSkipped, "pam_oath.so not installed (libpam-oath)"
		return append(rows, oathRow), nil
	}
	r = float64(so.Mean) / float64(sh.Mean)
	oathRow.Ours = row.Ours
	oathRow.Anchor = fmt.Sprintf("pam_oath mean %s, p50 %s", fmtMs(sh.Mean), fmtMs(sh.P50))
	oathRow.Ratio = fmtRatio(r) + fmt.Sprintf(" (p50 %s)", fmtRatio(float64(so.P50)/float64(sh.P50)))
	oathRow.Value, oathRow.Unit, oathRow.AnchorValue, oathRow.RatioValue = ms(so.Mean), "ms", ms(sh.Mean), r
	oathRow.Extra = map[string]float64{"ours_p50_ms": ms(so.P50), "oath_p50_ms": ms(sh.P50), "oath_fail": float64(fh), "oath_above_permit_p50_ms": ms(sh.P50 - permitP50)}
	oathRow.Status = StatusInfo
	if fh > 0 {
		oathRow.Status = StatusError
	}
	oathRow.Note = fmt.Sprintf("the same runs of ours as the row above, interleaved with pam_oath's; pam_oath: `auth required pam_oath.so usersfile=… window=1 digits=6`, one usersfile (root's, 0600: pam_oath records each user's last code in it) with a line `HOTP/T30/6 USER - HEXSECRET` for each of the %d users, each run another user's current code; failures pam_oath %d; ratio of means; no goal, a second anchor", len(h.users), fh)
	return append(rows, oathRow), nil
}

// floorRows are the rows of floors (a)–(f) measured; kit nil or te nil
// leaves out (a)–(d) or (e)–(f).
func floorRows(kit *floorKit, fl [][]time.Duration, te, tf []time.Duration) []Row {
	var rows []Row
	if kit != nil && len(fl[0]) > 0 {
		a, bb, c, d := floorOf(fl[0]), floorOf(fl[1]), floorOf(fl[2]), floorOf(fl[3])
		rows = append(rows,
			a.row("floor (a): C function in a .so, dlopen'ed and called in a forked child", "floor of the loader's fork per login", "",
				fmt.Sprintf("floordrv, a C program built in this run: pipe, fork; the child dlopens the library (RTLD_NOW) and calls its function, writes the answer to the pipe and _exits; timed from the fork to waitpid, in C; (a)–(d) interleaved, %d runs each (in rounds between the pamtester rows, a warm-up run each per round); best and p50", a.N)),
			bb.row("floor (b): minimal Go c-shared .so (one export), the same way", "floor of the Go child (ARCHITECTURE.md: ≈2.4 ms)", bb.over(a, "(a)"),
				"package main with one //export and nothing else, built as pam/build.sh builds pam_totpd_go.so (-buildmode=c-shared -trimpath -ldflags=-s, full RELRO): the Go runtime's start, which the design needs"),
			c.row(fmt.Sprintf("floor (c): (b) with pam's %d imports from this module", len(kit.imports)), "floor of loading pam_totpd_go.so", c.over(bb, "(b)"),
				fmt.Sprintf("(b) plus `import _` of the packages of this module that `go list -deps ./pam` lists (%s); the exported function calls none of them: their init and size", strings.Join(kit.imports, ", "))),
			d.row("floor (d): static Go binary, fork+exec'ed", "floor of a Go helper exec'ed per login instead", d.over(bb, "(b)"),
				"`func main() {}`, CGO_ENABLED=0; floordrv forks and execve's it, timed to waitpid"),
		)
	}
	if len(te) > 0 {
		e, f := floorOf(te), floorOf(tf)
		rows = append(rows,
			e.row("floor (e): pamtester, pam_permit only", "floor of every pamtester row", "",
				fmt.Sprintf("`auth required pam_permit.so`: a whole pamtester process, timed as the rows below; %d runs, interleaved with (f)", e.N)),
			f.row("floor (f): pamtester, pam_totpd.so, no daemon", "floor of ours with a daemon", f.over(e, "(e)"),
				"`auth required pam_totpd.so socket=PATH timeout=2`, nothing listening at PATH: the loader, the Go child and a refused connect; pamtester must report PAM_AUTHINFO_UNAVAIL"),
		)
	}
	return rows
}

func runSSH(b *Bench) ([]Row, error) {
	seqRow := Row{What: "sshd keyboard-interactive login p50, ours / GA", Goal: fmt.Sprintf("ratio ≤ %.2f", goalSSHRatio)}
	h, why := hostFor(b)
	if why != "" {
		seqRow.Ours, seqRow.Status, seqRow.Note = "not measured", StatusSkipped, why
		return []Row{seqRow}, nil
	}
	ours, err := h.startSSHD("ssh-ours", h.oursAuth())
	if err != nil {
		return nil, err
	}
	ga, err := h.startSSHD("ssh-ga", h.gaAuth())
	if err != nil {
		return nil, err
	}
	oursLogin := func() error {
		u, code, err := h.alloc.take(b.Ctx)
		if err != nil {
			return err
		}
		return ours.login(h.users[u].name, code)
	}
	var gaNext atomic.Int64
	gaLogin := func() error {
		u := h.users[int(gaNext.Add(1))%len(h.users)]
		return ga.login(u.name, u.gaCode(time.Now()))
	}

	n := 40
	if b.Quick {
		n = 10
	}
	var to, tg []time.Duration
	var fo, fg int
	for i := -2; i < n && b.Ctx.Err() == nil; i++ {
		t, w := time.Now(), h.alloc.waitedSoFar()
		err := oursLogin()
		if i >= 0 { // not counting a wait for fresh codes
			to = append(to, time.Since(t)-(h.alloc.waitedSoFar()-w))
		}
		if err != nil {
			fo++
			b.Progressf("ssh ours: %v", err)
		}
		t = time.Now()
		err = gaLogin()
		if i >= 0 {
			tg = append(tg, time.Since(t))
		}
		if err != nil {
			fg++
			b.Progressf("ssh GA: %v", err)
		}
	}
	so, sg := summarize(to), summarize(tg)
	if so.N == 0 || sg.N == 0 {
		return nil, b.Ctx.Err()
	}
	r := float64(so.P50) / float64(sg.P50)
	seqRow.Ours = fmt.Sprintf("p50 %s (mean %s)", fmtMs(so.P50), fmtMs(so.Mean))
	seqRow.Anchor = fmt.Sprintf("GA p50 %s (mean %s)", fmtMs(sg.P50), fmtMs(sg.Mean))
	seqRow.Ratio = fmtRatio(r)
	seqRow.Value, seqRow.Unit, seqRow.AnchorValue, seqRow.RatioValue = ms(so.P50), "ms", ms(sg.P50), r
	seqRow.Extra = map[string]float64{"ours_fail": float64(fo), "ga_fail": float64(fg)}
	seqRow.Status = judge(r <= goalSSHRatio && fo == 0 && fg == 0)
	seqRow.Note = fmt.Sprintf("%d logins each, sequential, interleaved, after 2 warm-up logins each; connect, keyboard-interactive with the code, a session running `true`, close (golang.org/x/crypto/ssh); one sshd per stack, same sshd_config (AuthenticationMethods keyboard-interactive, UsePAM yes); stack `auth required MODULE` + contrib's account/session lines; failures ours %d, GA %d", n, fo, fg)
	rows := []Row{seqRow}

	total, conc := 300, 10
	if b.Quick {
		total = 60
	}
	if err := h.alloc.reserve(b.Ctx, total); err != nil {
		return rows, err
	}
	w0 := h.alloc.waitedSoFar()
	wo, fco := concurrent(b, total, conc, oursLogin)
	waited := h.alloc.waitedSoFar() - w0
	wo -= waited
	wg, fcg := concurrent(b, total, conc, gaLogin)
	cr := Row{What: fmt.Sprintf("sshd: %d logins at %d concurrent, ours / GA", total, conc),
		Ours:   fmt.Sprintf("%s wall, %d failed", wo.Round(time.Millisecond), fco),
		Anchor: fmt.Sprintf("GA %s wall, %d failed", wg.Round(time.Millisecond), fcg),
		Ratio:  fmtRatio(float64(wo) / float64(wg)),
		Goal:   fmt.Sprintf("ratio ≤ %.2f, 0 failed in %d", goalSSHConcRatio, total),
		Status: judge(fco == 0 && float64(wo)/float64(wg) <= goalSSHConcRatio),
		Value:  float64(fco), Unit: "failures", AnchorValue: float64(fcg), RatioValue: float64(wo) / float64(wg),
		Extra: map[string]float64{"ours_wall_s": wo.Seconds(), "ga_wall_s": wg.Seconds()},
		Note:  "ratio is of wall times; each of ours uses a fresh TOTP code (one of the steps previous, current, next, in order per user, never two in flight per user)",
	}
	if waited > 0 {
		cr.Note += fmt.Sprintf("; ours' wall excludes %s spent waiting for a TOTP step with fresh codes", waited.Round(time.Millisecond))
	}
	if b.Quick {
		cr.Note += "; -quick: fewer logins than the goal's 300"
	}
	rows = append(rows, cr)
	if left := ours.leftover() + ga.leftover(); left > 0 {
		rows = append(rows, Row{What: "sshd: sessions left after every client finished", Ours: fmt.Sprint(left), Goal: "0", Status: StatusMissed})
	}
	return rows, nil
}

// concurrent runs total calls of login on conc goroutines and reports
// the wall time and how many failed.
func concurrent(b *Bench, total, conc int, login func() error) (time.Duration, int) {
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) && b.Ctx.Err() == nil {
				if err := login(); err != nil {
					failed.Add(1)
					once.Do(func() { b.Progressf("concurrent login failed (first shown): %v", err) })
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), int(failed.Load())
}
