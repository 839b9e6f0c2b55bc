// Command bench measures totpd against the numbers of ARCHITECTURE.md, "Numbers" and
// prints one table: what | ours | anchor | ratio | goal | ok?.
//
// Every anchor is measured in the same run, on the same machine, so the
// ratios mean something even where the absolute numbers do not travel.
// Timed assertions never go in tests; this program is a report, and it
// exits 0 even when a goal is missed (the row says MISSED).
//
// Usage (as root, after `make build`):
//
//	go run ./e2e/bench -build build [-only daemon|fleet|pam|ssh|security] [-json FILE]
//
// Sections are functions registered in the sections list below; a new
// section (the PAM and sshd rows) is a function returning rows.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// section is one group of rows. run returns the rows it measured; an
// error ends the section and is shown as a row of its own, after the
// rows it had already measured.
type section struct {
	name  string
	about string
	run   func(b *Bench) ([]Row, error)
}

// sections run in this order; -only picks one of them by name.
var sections = []section{
	{"daemon", "anchor fsync replace; durable verifications/s, p99 at 500/s, RSS and start with 10,000 users", runDaemon},
	{"fleet", "fleet mode on a 3-member etcd on loopback beside the local store: sequential p50 and p99, verifications/s at 64 clients", runFleet},
	{"pam", "the floors; one pamtester authentication, ours / pam_google_authenticator (DISALLOW_REUSE) and / pam_oath", runPAM},
	{"ssh", "sshd keyboard-interactive login p50, ours / pam_google_authenticator", runSSH},
	{"security", "systemd-analyze security --offline=true of packaging/systemd/totpd.service", runSecurity},
}

// Bench is what every section gets: the flags, a scratch directory on a
// real file system, a context cancelled on SIGINT/SIGTERM, and the
// anchors shared between sections (measured at most once per run).
type Bench struct {
	Ctx      context.Context
	BuildDir string // holds totpd and totpctl
	RepoDir  string // the module root (for packaging/…)
	WorkDir  string // scratch, removed at the end unless -keep
	Users    int    // enrolled users for the daemon rows
	Quick    bool
	KeepWork bool // set by a section that wants its files looked at

	anchor *fsyncAnchor
}

// Progressf reports progress on stderr; stdout carries only the report.
func (b *Bench) Progressf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-"+nssProbeFlag { // re-executed by measureNSS
		nssProbe(strings.Split(os.Args[2], ","))
		return
	}
	build := flag.String("build", "build", "directory with the totpd and totpctl binaries (make build)")
	only := flag.String("only", "", "run one section: "+sectionNames())
	jsonOut := flag.String("json", "", "also write the rows as JSON to this file")
	workBase := flag.String("workdir", "/var/tmp", "where to make the scratch directory; must be a real disk file system (not tmpfs), as the state dir of a real install")
	keep := flag.Bool("keep", false, "keep the scratch directory (daemon log, state) for a look afterwards")
	users := flag.Int("users", 10000, "enrolled users for the daemon rows")
	flag.StringVar(&authdUnit, "authd-unit", "", "an authd.service file to score as the security anchor in this run (default: ARCHITECTURE.md's 1.7, unless authd is installed)")
	quick := flag.Bool("quick", false, "fewer repetitions (for trying the program out; numbers are noisier)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	if *users < 1 || *users > 99999 {
		fmt.Fprintf(os.Stderr, "bench: -users %d: want 1 to 99999\n", *users)
		os.Exit(2)
	}
	var run []section
	for _, s := range sections {
		if *only == "" || *only == s.name {
			run = append(run, s)
		}
	}
	if len(run) == 0 {
		fmt.Fprintf(os.Stderr, "bench: -only %q: no such section; sections are %s\n", *only, sectionNames())
		os.Exit(2)
	}

	buildDir, _ := filepath.Abs(*build)
	repo, err := findRepo()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(2)
	}
	work, err := os.MkdirTemp(*workBase, "totpd-bench-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: scratch directory: %v\n", err)
		os.Exit(2)
	}
	os.Chmod(work, 0o755) // the socket inside must be reachable; secrets live in state/ (0700)
	var b *Bench
	cleanupOnExit(func() {
		if *keep || (b != nil && b.KeepWork) {
			fmt.Fprintf(os.Stderr, "bench: kept %s\n", work)
			return
		}
		os.RemoveAll(work)
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-sigc
		// Stop the daemon and remove the scratch now, even if a section is
		// stuck in a call; cleanups run once whoever gets there first.
		cancel()
		fmt.Fprintf(os.Stderr, "bench: %v, cleaning up\n", sig)
		runCleanups()
		os.Exit(130)
	}()

	b = &Bench{Ctx: ctx, BuildDir: buildDir, RepoDir: repo, WorkDir: work, Users: *users, Quick: *quick}
	env := describeHost(work)
	started := time.Now()

	defer func() {
		if r := recover(); r != nil {
			runCleanups()
			panic(r)
		}
	}()
	var rows []Row
	for _, s := range run {
		b.Progressf("section %s: %s", s.name, s.about)
		got, err := s.run(b)
		for i := range got {
			got[i].Section = s.name
		}
		rows = append(rows, got...)
		if err != nil {
			rows = append(rows, Row{Section: s.name, What: s.name + ": stopped", Ours: "error", Status: StatusError, Note: err.Error()})
		}
		if ctx.Err() != nil {
			break
		}
	}

	env.LoadEnd = loadavg()
	env.CPUPressure[1], env.IOPressure[1] = pressure("cpu"), pressure("io")
	printReport(os.Stdout, env, rows, time.Since(started))
	if *jsonOut != "" {
		if err := writeJSON(*jsonOut, env, rows, time.Since(started)); err != nil {
			fmt.Fprintf(os.Stderr, "bench: -json: %v\n", err)
		}
	}
	runCleanups()
}

func sectionNames() string {
	var n []string
	for _, s := range sections {
		n = append(n, s.name)
	}
	return strings.Join(n, "|")
}

// findRepo reports the module root: the working directory or a parent
// holding go.mod (make runs us from the root).
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod in %s or above: run from the totpd source tree", dir)
		}
	}
}

// Host describes where the numbers were taken.
type Host struct {
	Hostname string `json:"hostname"`
	Kernel   string `json:"kernel"`
	CPUs     int    `json:"cpus"`
	CPUModel string `json:"cpu_model,omitempty"`
	WorkDir  string `json:"workdir"`
	WorkFS   string `json:"workdir_fs"`
	WorkDev  string `json:"workdir_device,omitempty"`
	Go       string `json:"go"`
	Started  string `json:"started"`
	// Load averages (1 min) at the start and the end: other work on the
	// machine makes every number here noisier.
	LoadStart float64 `json:"loadavg_start"`
	LoadEnd   float64 `json:"loadavg_end"`
	// CPU and I/O pressure (PSI "some avg10", percent) at the start and the end.
	CPUPressure [2]float64 `json:"cpu_pressure_some_avg10"`
	IOPressure  [2]float64 `json:"io_pressure_some_avg10"`
}

func describeHost(work string) Host {
	h := Host{CPUs: runtime.NumCPU(), WorkDir: work, Go: runtime.Version(), Started: time.Now().Format(time.RFC3339), LoadStart: loadavg()}
	h.CPUPressure[0], h.IOPressure[0] = pressure("cpu"), pressure("io")
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				h.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	h.WorkFS, h.WorkDev = fsOf(work)
	return h
}

// fsOf reports the file system type and source of the mount holding path,
// from /proc/self/mountinfo (longest matching mount point).
func fsOf(path string) (fstype, source string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "?", ""
	}
	best := -1
	for _, l := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(l, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		mp := f[4]
		if mp == path || mp == "/" || strings.HasPrefix(path, mp+"/") {
			if len(mp) >= best {
				best, fstype, source = len(mp), g[0], g[1]
			}
		}
	}
	return fstype, source
}

func writeJSON(path string, h Host, rows []Row, took time.Duration) error {
	out := struct {
		Host    Host    `json:"host"`
		Seconds float64 `json:"seconds"`
		Rows    []Row   `json:"rows"`
	}{h, took.Seconds(), rows}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
