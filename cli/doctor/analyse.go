package doctor

import (
	"fmt"
	"sort"
	"strings"
)

// Severity of a finding: a hole makes doctor exit 1.
type Severity string

const (
	Hole    Severity = "hole"
	Warning Severity = "warning"
	Info    Severity = "ok"
)

// Finding is one thing doctor reports, with where it comes from.
type Finding struct {
	Severity Severity `json:"severity"`
	// Check names the rule: "without-code", "asked-after-failure",
	// "no-module", "not-reached", "never-succeeds", "fail-open",
	// "no-password", "line", "module-missing", "module-file",
	// "sshd-usepam", "sshd-methods", "sshd-password", "sshd-kbdint",
	// "sshd-match", "sshd-config", "daemon", "clock", "sound".
	Check   string `json:"check"`
	Service string `json:"service,omitempty"`
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
	Path    []Step `json:"path,omitempty"`
}

// The results other modules may give, for an attacker who controls
// everything but the code: success, the failures modules really return,
// and ignore. Distinct effects only are tried (distinct).
var (
	anyResult  = []int{retSuccess, retAuthErr, retIgnore, retUserUnknown, retAuthinfoUnavail, retCredInsuff, retMaxtries, retPermDenied, retNewAuthtokReqd, retSystemErr}
	failResult = anyResult[1:]
)

// passwordModules check a password (or a directory's credential).
var passwordModules = map[string]bool{
	"pam_unix.so": true, "pam_unix2.so": true, "pam_sss.so": true, "pam_ldap.so": true,
	"pam_krb5.so": true, "pam_winbind.so": true, "pam_userdb.so": true, "pam_pwdb.so": true,
	"pam_systemd_home.so": true, "pam_radius_auth.so": true, "pam_tacplus.so": true,
	"pam_mysql.so": true, "pam_pgsql.so": true, "pam_ipa.so": true,
}

// realUIDServices run PAM in a set-uid program whose real uid stays the
// caller's, so pam_rootok succeeds only for root, who needs no way in.
// Elsewhere (sshd, login, display managers) the program runs as root and
// pam_rootok succeeds for everyone.
var realUIDServices = map[string]bool{
	"su": true, "su-l": true, "sudo": true, "sudo-i": true, "chfn": true, "chsh": true,
	"passwd": true, "newgrp": true, "runuser": true, "runuser-l": true, "polkit-1": true,
}

// Analysis is what doctor found for one service's stack.
type Analysis struct {
	Stack       *Stack
	HasTotpd    bool
	WithoutCode bool // hole 1: success without pam_totpd.so's success
	AfterFail   bool // hole 2: pam_totpd.so asked after a failed factor
	// NoPassword: some path succeeds with every password module failing
	// (pam_totpd.so giving ignore or a wrong code): the stack checks no password.
	NoPassword     bool
	NoPasswordPath []Step
	Findings       []Finding
}

// Analyse evaluates st. explicit: the admin named the service, so a
// stack without pam_totpd.so is a hole, not a warning.
func Analyse(st *Stack, explicit bool) *Analysis {
	a := &Analysis{Stack: st}
	svc := st.Service
	at := func(sev Severity, check string, pos Pos, path []Step, format string, args ...any) {
		a.Findings = append(a.Findings, Finding{Severity: sev, Check: check, Service: svc, File: pos.File, Line: pos.Line, Message: fmt.Sprintf(format, args...), Path: path})
	}
	filePos := Pos{File: st.File}
	if st.Other {
		filePos.File = "other"
	}
	if st.Broken != "" {
		at(Warning, "never-succeeds", filePos, nil, "%s", st.Broken)
		return a
	}
	if st.Other {
		if st.File == "" {
			at(Warning, "line", filePos, nil, "no service file %s: libpam runs the auth stack of \"other\"", svc)
		} else {
			at(Warning, "line", filePos, nil, "no auth lines of its own: libpam runs the auth stack of \"other\"")
		}
	}
	for _, p := range st.Problems {
		at(Warning, "line", p.Pos, nil, "%s", p.Message)
	}
	var totpd []*Handler
	for i := range st.Handlers {
		h := &st.Handlers[i]
		if h.isTotpd() {
			totpd = append(totpd, h)
		}
		if h.Kind == hModule && h.Missing {
			if h.isTotpd() {
				at(Warning, "module-missing", h.Line.Pos, nil, "%s (%s) is not installed: libpam fails this line with PAM_MODULE_UNKNOWN", h.Line.Module, h.Where())
			} else if !h.Line.Silent {
				at(Warning, "module-missing", h.Line.Pos, nil, "%s (%s) is not installed on this host: libpam gives PAM_MODULE_UNKNOWN for it (evaluated with that and with every result it could give once installed)", h.Line.Module, h.Where())
			}
		}
	}
	a.HasTotpd = len(totpd) > 0
	if !a.HasTotpd {
		sev := Warning
		if explicit {
			sev = Hole
			a.WithoutCode = true
		}
		at(sev, "no-module", filePos, nil, "the auth stack does not use %s: logins through %s ask no code", TotpdModule, svc)
		return a
	}
	m := &machine{hs: st.Handlers}
	other := func(h *Handler) []int {
		switch {
		case h.Kind == hMustFail:
			return []int{retPermDenied}
		case h.Name == "pam_permit.so":
			return withMissing(h, []int{retSuccess})
		case h.Name == "pam_deny.so":
			return withMissing(h, []int{retAuthErr})
		case h.Name == "pam_rootok.so" && realUIDServices[svc]:
			return withMissing(h, []int{retAuthErr})
		}
		return withMissing(h, anyResult)
	}
	with := func(totpd []int, pw func(h *Handler) []int) func(h *Handler, s state) []int {
		return func(h *Handler, s state) []int {
			if h.isTotpd() {
				return distinct(h, withMissing(h, totpd))
			}
			if pw != nil && passwordModules[h.Name] {
				return distinct(h, pw(h))
			}
			return distinct(h, other(h))
		}
	}
	succeeds := func(s state) bool { return s.i >= len(m.hs) && result(s) == retSuccess }
	tooLarge := func(err error) bool {
		if err != nil {
			at(Hole, "without-code", filePos, nil, "%v (more than %d states): doctor cannot show that it is sound", err, maxStates)
			a.WithoutCode = true
			return true
		}
		return false
	}

	// 1. In without the code: what someone without it can make pam_totpd.so
	// answer. A wrong code is PAM_AUTH_ERR; closing the prompt (Ctrl-D at
	// su's or login's) is PAM_CONV_ERR; and in a set-uid host the module's
	// child keeps the caller's real uid, so the caller may kill it:
	// PAM_AUTHINFO_UNAVAIL. Each must fail the stack.
	withoutCode := []int{retAuthErr, retConvErr}
	if realUIDServices[svc] {
		withoutCode = append(withoutCode, retAuthinfoUnavail)
	}
	path, err := (&search{m: m, outcomes: with(withoutCode, nil), stop: succeeds}).run()
	if tooLarge(err) {
		return a
	}
	if path != nil {
		a.WithoutCode = true
		pos, why := explainBypass(m, path)
		at(Hole, "without-code", pos, path, "an enrolled user can get in without the code: %s", why)
	}

	// 2. Asked after a failed factor: pam_totpd.so reached, for the first
	// time, with the stack already failed and no way left to succeed.
	rescue := &search{m: m, outcomes: with([]int{retSuccess}, nil), stop: succeeds, dead: map[state]bool{}}
	doomed := func(s state) bool {
		if s.i >= len(m.hs) || !m.hs[s.i].isTotpd() || s.seenTotpd || s.imp != impNeg {
			return false
		}
		var p []Step
		ok, err := rescue.dfs(s, &p)
		return err == nil && !ok
	}
	path, err = (&search{m: m, outcomes: with([]int{retSuccess, retAuthErr}, nil), stop: doomed}).run()
	if tooLarge(err) {
		return a
	}
	if path != nil {
		a.AfterFail = true
		failed := lastFailure(path)
		h := &m.hs[reachedAt(path)]
		at(Hole, "asked-after-failure", h.Line.Pos, path,
			"%s (%s) is asked after %s failed without ending the stack: anyone who knows a user name can use up that user's tries, learn whether the user is enrolled, and with enroll_at_login enroll a phone of their own. End the stack on that failure first (requisite, or [default=die], or a jump to pam_deny.so)",
			TotpdModule, h.Where(), failed)
	}

	// 3. Can anyone get in at all (right code, or not covered by totpd)?
	path, err = (&search{m: m, outcomes: with([]int{retSuccess, retIgnore}, nil), stop: succeeds}).run()
	if err == nil && path == nil {
		at(Warning, "never-succeeds", filePos, nil, "no combination of results lets anyone in through this stack, not even with the right code")
	}
	reached, _ := (&search{m: m, outcomes: with(anyResult, nil), stop: func(s state) bool { return s.i < len(m.hs) && m.hs[s.i].isTotpd() }}).run()
	if reached == nil && !a.WithoutCode {
		at(Warning, "not-reached", totpd[0].Line.Pos, nil, "%s (%s) is never reached", TotpdModule, totpd[0].Where())
	}

	// 4. The daemon down: PAM_AUTHINFO_UNAVAIL must not let anyone in.
	path, _ = (&search{m: m, outcomes: with([]int{retAuthinfoUnavail}, nil), stop: succeeds}).run()
	if path != nil && !a.WithoutCode {
		at(Warning, "fail-open", totpd[0].Line.Pos, path, "with totpd down or unreachable (PAM_AUTHINFO_UNAVAIL) this stack lets users in without the code")
	}

	// 5. Does the stack check a password? (sshd's password method needs it.)
	a.NoPasswordPath, _ = (&search{m: m, outcomes: with([]int{retIgnore, retAuthErr}, func(h *Handler) []int { return withMissing(h, failResult) }), stop: succeeds}).run()
	a.NoPassword = a.NoPasswordPath != nil

	if !a.WithoutCode && !a.AfterFail {
		at(Info, "sound", totpd[0].Line.Pos, nil, "%s (%s) is needed on every way in, and asked only after the factors before it passed", TotpdModule, totpd[0].Where())
	}
	return a
}

func withMissing(h *Handler, rets []int) []int {
	if !h.Missing {
		return rets
	}
	return append(append([]int(nil), rets...), retModuleUnknown)
}

// explainBypass says which line lets the user in without the code.
func explainBypass(m *machine, path []Step) (Pos, string) {
	for k, st := range path {
		h := &m.hs[st.index]
		if h.isTotpd() && (st.Action == "bad" || st.Action == "die") {
			for _, later := range path[k+1:] {
				if later.Action == "reset" {
					return later.Pos, fmt.Sprintf("%s (%s) gives %s on a wrong code, but %s (%s) giving %s resets the stack's state, which forgets the wrong code, and the stack ends in success",
						TotpdModule, h.Where(), st.Action, later.Module, later.Where, later.Result)
				}
			}
		}
		if h.isTotpd() {
			what := "a wrong code"
			switch st.Result {
			case "conv_err":
				what = "a closed prompt (Ctrl-D: PAM_CONV_ERR)"
			case "authinfo_unavail":
				what = "its own child killed by the caller, who keeps the real uid in this set-uid program (PAM_AUTHINFO_UNAVAIL)"
			}
			return h.Line.Pos, fmt.Sprintf("%s (%s, control %q) does not stop %s: %s gives %q there, and the stack still ends in success (`optional`, `sufficient` and `default=ignore` accept more than the right code; use required, or [success=done ignore=ignore default=die] before pam_permit.so)",
				TotpdModule, h.Where(), h.Line.Control, what, strings.ToUpper("PAM_"+st.Result), st.Action)
		}
		// A handler that skips a pam_totpd.so line: a jump, or done.
		for j := st.index + 1; j < st.next && j < len(m.hs); j++ {
			if m.hs[j].isTotpd() {
				how := "ends the stack with success"
				if strings.HasPrefix(st.Action, "jump") {
					how = "jumps over it"
				} else if m.hs[j].Level > 0 && h.Level == m.hs[j].Level {
					how = "ends its substack"
				}
				return h.Line.Pos, fmt.Sprintf("%s (%s, control %q) giving %s %s: %s (%s) is not reached",
					h.Name, h.Where(), h.Line.Control, st.Result, how, TotpdModule, m.hs[j].Where())
			}
		}
	}
	last := path[len(path)-1]
	h := &m.hs[last.index]
	return h.Line.Pos, fmt.Sprintf("the stack ends in success after %s (%s) without reaching %s", h.Name, h.Where(), TotpdModule)
}

// lastFailure names the step that made the stack fail before pam_totpd.so.
func lastFailure(path []Step) string {
	name := "a module"
	prev := impUndef
	for _, st := range path {
		if st.imp == impNeg && prev != impNeg {
			name = fmt.Sprintf("%s (%s, %s → %s)", st.Module, st.Where, st.Result, st.Action)
		}
		prev = st.imp
	}
	return name
}

func reachedAt(path []Step) int { return path[len(path)-1].next }

// Services lists the services doctor checks by default: sshd, login, su
// and sudo when they exist, and every service file whose auth stack uses
// pam_totpd.so and that no other file includes.
func (l *Loader) Services() []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range []string{"sshd", "login", "su", "sudo"} {
		for _, d := range l.Dirs {
			if _, err := statRegular(d + "/" + s); err == nil {
				out = append(out, s)
				seen[s] = true
				break
			}
		}
	}
	included := map[string]bool{}
	var names []string
	for _, d := range l.Dirs {
		for _, n := range listDir(d) {
			_, lines, err := l.open(n)
			if err != nil {
				continue
			}
			for _, ln := range lines {
				if ln.Type == "@include" || strings.EqualFold(ln.Control, "include") || strings.EqualFold(ln.Control, "substack") {
					included[baseOf(ln.Module)] = true
				}
			}
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		if seen[n] || included[n] {
			continue
		}
		seen[n] = true
		st := l.Load(n)
		for i := range st.Handlers {
			if st.Handlers[i].isTotpd() {
				out = append(out, n)
				break
			}
		}
	}
	return out
}
