package main

// The PAM and sshd rows of ARCHITECTURE.md, "Numbers": ours (pam_totpd.so talking to a
// real totpd) and the anchor (pam_google_authenticator) measured side by
// side, interleaved, in the same run, on the same real accounts.
//
//   - pam: one PAM authentication as a whole process, `pamtester` with
//     pam_totpd.so vs pam_google_authenticator; goal ratio ≤ 1.0.
//   - ssh: real sshd keyboard-interactive login p50, ours vs GA, same
//     sshd config (sequential), and 300 logins at 10 concurrent with 0
//     failures; goal ratio ≤ 1.05.
//
// The machinery (accounts, daemon, PAM services, sshd) is in host.go.

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

const (
	goalPAMRatio = 1.0
	goalSSHRatio = 1.05
)

func runPAM(b *Bench) ([]Row, error) {
	row := Row{What: "pamtester auth, ours / pam_google_authenticator", Goal: "ratio ≤ 1.0"}
	h, why := hostFor(b)
	if why != "" {
		row.Ours, row.Status, row.Note = "not measured", StatusSkipped, why
		return []Row{row}, nil
	}
	ours, err := h.service("pam-ours", h.oursAuth())
	if err != nil {
		return nil, err
	}
	ga, err := h.service("pam-ga", h.gaAuth())
	if err != nil {
		return nil, err
	}
	// Both stacks must refuse a wrong code, or the timings mean nothing.
	u0 := h.users[0]
	if _, err := h.pamtester(ours, u0.name, u0.ours.wrongCode(time.Now())); err == nil {
		return nil, fmt.Errorf("ours accepted a wrong code: the stack is not checking")
	}
	wrong := "000000"
	if u0.gaCode(time.Now()) == wrong {
		wrong = "000001"
	}
	if _, err := h.pamtester(ga, u0.name, wrong); err == nil {
		return nil, fmt.Errorf("GA accepted a wrong code: the stack is not checking")
	}
	n := 60
	if b.Quick {
		n = 15
	}
	var to, tg []time.Duration
	var fo, fg int
	for i := -3; i < n && b.Ctx.Err() == nil; i++ { // 3 warm-up rounds each
		u, code, err := h.alloc.take(b.Ctx)
		if err != nil {
			return nil, err
		}
		d, err := h.pamtester(ours, h.users[u].name, code)
		if i >= 0 {
			to = append(to, d)
		}
		if err != nil {
			fo++
			b.Progressf("pamtester ours %s: %v", h.users[u].name, err)
		}
		gu := h.users[(u+1)%len(h.users)]
		d, err = h.pamtester(ga, gu.name, gu.gaCode(time.Now()))
		if i >= 0 {
			tg = append(tg, d)
		}
		if err != nil {
			fg++
			b.Progressf("pamtester GA %s: %v", gu.name, err)
		}
	}
	so, sg := summarize(to), summarize(tg)
	if so.N == 0 || sg.N == 0 {
		return nil, b.Ctx.Err()
	}
	r := float64(so.Mean) / float64(sg.Mean)
	row.Ours = fmt.Sprintf("mean %s, p50 %s", fmtMs(so.Mean), fmtMs(so.P50))
	row.Anchor = fmt.Sprintf("GA mean %s, p50 %s", fmtMs(sg.Mean), fmtMs(sg.P50))
	row.Ratio = fmtRatio(r) + fmt.Sprintf(" (p50 %s)", fmtRatio(float64(so.P50)/float64(sg.P50)))
	row.Value, row.Unit, row.AnchorValue, row.RatioValue = ms(so.Mean), "ms", ms(sg.Mean), r
	row.Extra = map[string]float64{"ours_p50_ms": ms(so.P50), "ga_p50_ms": ms(sg.P50), "ours_fail": float64(fo), "ga_fail": float64(fg)}
	row.Status = judge(r <= goalPAMRatio && fo == 0 && fg == 0)
	row.Note = fmt.Sprintf("%d runs each, interleaved, after 3 warm-up runs each; a whole `pamtester SERVICE USER authenticate` process, code on stdin; ours: `auth required pam_totpd.so socket=… timeout=5`, a fresh TOTP code each time; GA: `auth required pam_google_authenticator.so secret=…/${USER} user=root`, TOTP_AUTH, no DISALLOW_REUSE; both refused a wrong code first; failures ours %d, GA %d; ratio of means", n, fo, fg)
	return []Row{row}, nil
}

func runSSH(b *Bench) ([]Row, error) {
	seqRow := Row{What: "sshd keyboard-interactive login p50, ours / GA", Goal: "ratio ≤ 1.05"}
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
		Goal:   fmt.Sprintf("0 failed in %d", total),
		Status: judge(fco == 0),
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
