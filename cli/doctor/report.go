package doctor

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Options says what to check.
type Options struct {
	PAMDirs    []string // where services are read, in order
	ModuleDirs []string // where relative module paths are looked up; nil: not looked up
	Services   []string // nil: Loader.Services
	// SSHD is sshd's configuration, nil when not checked (SSHDError says why).
	SSHD      *SSHDConfig
	SSHDError string
}

// Report is everything doctor found (the shape of --json).
type Report struct {
	OK       bool            `json:"ok"`
	Holes    int             `json:"holes"`
	Warnings int             `json:"warnings"`
	Services []ServiceReport `json:"services"`
	System   []Finding       `json:"system"`
}

// ServiceReport is one service's verdict and findings.
type ServiceReport struct {
	Service           string    `json:"service"`
	File              string    `json:"file"`
	UsesTotpd         bool      `json:"uses_totpd"`
	WithoutCode       bool      `json:"without_code"`
	AskedAfterFailure bool      `json:"asked_after_failure"`
	Findings          []Finding `json:"findings"`
}

// Check reads and evaluates every service of o.
func Check(o Options) *Report {
	l := &Loader{Dirs: o.PAMDirs, ModuleDirs: o.ModuleDirs}
	services, explicit := o.Services, true
	if services == nil {
		services, explicit = l.Services(), false
	}
	r := &Report{System: []Finding{}, Services: []ServiceReport{}}
	for _, svc := range services {
		st := l.Load(svc)
		a := Analyse(st, explicit)
		sr := ServiceReport{Service: svc, File: st.File, UsesTotpd: a.HasTotpd, Findings: a.Findings}
		if sr.File == "" && st.Other {
			sr.File = "other"
		}
		sr.Findings = append(sr.Findings, moduleFiles(st)...)
		if svc == SSHDService && a.HasTotpd {
			if o.SSHD != nil {
				sr.Findings = append(sr.Findings, AnalyseSSHD(o.SSHD, a)...)
			} else if o.SSHDError != "" {
				sr.Findings = append(sr.Findings, Finding{Severity: Warning, Check: "sshd-config", Service: svc, Message: o.SSHDError})
			}
		}
		r.Services = append(r.Services, sr)
	}
	r.tally()
	return r
}

// moduleFiles checks each pam_totpd.so the stack loads, and the Go
// library it loads in turn from its own directory.
func moduleFiles(st *Stack) []Finding {
	var out []Finding
	done := map[string]bool{}
	for i := range st.Handlers {
		h := &st.Handlers[i]
		if !h.isTotpd() || h.Path == "" || done[h.Path] {
			continue
		}
		done[h.Path] = true
		f := func(sev Severity, format string, args ...any) {
			out = append(out, Finding{Severity: sev, Check: "module-file", Service: st.Service, File: h.Line.File, Line: h.Line.Line, Message: fmt.Sprintf(format, args...)})
		}
		if why := CheckModuleFile(h.Path); why != "" {
			f(Hole, "%s: %s", h.Path, why)
		}
		gol := filepath.Join(filepath.Dir(h.Path), "pam_totpd_go.so")
		if _, err := os.Stat(gol); err != nil {
			f(Warning, "%s is missing beside %s: every login that needs a code fails (PAM_AUTHINFO_UNAVAIL)", gol, h.Path)
		} else if why := CheckModuleFile(gol); why != "" {
			f(Hole, "%s: %s", gol, why)
		}
	}
	return out
}

// AddSystem adds a finding about the host (daemon, clock).
func (r *Report) AddSystem(f Finding) {
	r.System = append(r.System, f)
	r.tally()
}

func (r *Report) tally() {
	r.Holes, r.Warnings = 0, 0
	count := func(fs []Finding) {
		for _, f := range fs {
			switch f.Severity {
			case Hole:
				r.Holes++
			case Warning:
				r.Warnings++
			}
		}
	}
	for i := range r.Services {
		s := &r.Services[i]
		s.WithoutCode, s.AskedAfterFailure = false, false
		for _, f := range s.Findings {
			if f.Severity == Hole {
				if f.Check == "asked-after-failure" {
					s.AskedAfterFailure = true
				} else {
					s.WithoutCode = true
				}
			}
		}
		count(s.Findings)
	}
	count(r.System)
	r.OK = r.Holes == 0
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) {
	label := map[Severity]string{Hole: "HOLE", Warning: "warning", Info: "ok"}
	line := func(f Finding) {
		where := f.File
		if f.Line > 0 {
			where = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		if where != "" && !strings.Contains(f.Message, where) {
			where = " [" + where + "]"
		} else {
			where = ""
		}
		fmt.Fprintf(w, "  %-8s %s%s\n", label[f.Severity], f.Message, where)
		if f.Severity == Hole && len(f.Path) > 0 {
			var steps []string
			for _, s := range f.Path {
				if s.Result == "success" && s.Action == "ok" {
					continue
				}
				steps = append(steps, fmt.Sprintf("%s %s→%s", s.Module, s.Result, s.Action))
			}
			if len(steps) > 0 {
				fmt.Fprintf(w, "           path: %s\n", strings.Join(steps, "; "))
			}
		}
	}
	if len(r.Services) == 0 {
		fmt.Fprintln(w, "no service to check (none of sshd, login, su, sudo, and no service uses pam_totpd.so)")
	}
	for _, s := range r.Services {
		fmt.Fprintf(w, "%s (%s)\n", s.Service, s.File)
		for _, f := range s.Findings {
			line(f)
		}
	}
	if len(r.System) > 0 {
		fmt.Fprintln(w, "host")
		for _, f := range r.System {
			line(f)
		}
	}
	verdict := "no way around the code found"
	if !r.OK {
		verdict = "exit status 1"
	}
	fmt.Fprintf(w, "\n%d %s, %d %s: %s\n", r.Holes, plural(r.Holes, "hole"), r.Warnings, plural(r.Warnings, "warning"), verdict)
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
