package main

// The floor rows of the pam section (ARCHITECTURE.md, "Numbers": what this
// design cannot go below), measured in the same run as ours and the
// anchors. The helpers are built here, at run time, into the scratch
// directory, so that nothing prebuilt is committed and the imports row
// always has the module's imports of today:
//
//   - floordrv: a tiny C program that, in a loop, forks a child that
//     dlopens a library and calls its floor_call (as pam_totpd.so does with
//     pam_totpd_go.so), or execs a program, and times each from the fork
//     to the child's answer and exit;
//   - floor_c.so: a C function in a shared library;
//   - floor_go.so: a minimal Go c-shared library (one export);
//   - floor_imports.so: the same with a blank import of every package of
//     this module that `go list -deps ./pam` lists;
//   - floor_static: a static Go binary that does nothing.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// floorDriver is floordrv.c. Usage: floordrv N KIND PATH [KIND PATH …],
// KIND dl (fork, dlopen PATH, call floor_call, which answers 42, through
// a pipe) or exec (fork, execve PATH). One untimed warm-up of each, then
// N rounds, interleaved; one line per PATH of N times in nanoseconds.
const floorDriver = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

extern char **environ;

/* one forks a child that loads and calls (dl) or execs (exec) path and waits for its answer and exit. */
static int one(int exec_it, const char *path)
{
	int fds[2], result = 0, status = 0, r;
	ssize_t n;
	pid_t pid, w;

	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		void *lib;
		int (*fn)(void);

		close(fds[0]);
		if (exec_it) {
			char *argv[] = {(char *)path, NULL};
			execve(path, argv, environ);
			_exit(127);
		}
		lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		fn = lib ? (int (*)(void))dlsym(lib, "floor_call") : NULL;
		if (fn == NULL) {
			fprintf(stderr, "floordrv: %s\n", dlerror());
			_exit(126);
		}
		r = fn();
		n = write(fds[1], &r, sizeof r);
		_exit(n == (ssize_t)sizeof r ? 0 : 1);
	}
	close(fds[1]);
	do
		n = read(fds[0], &result, sizeof result);
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	do
		w = waitpid(pid, &status, 0);
	while (w < 0 && errno == EINTR);
	if (w != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return -1;
	if (!exec_it && (n != (ssize_t)sizeof result || result != 42))
		return -1;
	return 0;
}

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
	int n, k, m, i, j;
	long long *ns, t;

	if (argc < 4 || (argc - 2) % 2 != 0 || (n = atoi(argv[1])) < 1) {
		fprintf(stderr, "usage: floordrv N dl|exec PATH ...\n");
		return 2;
	}
	m = (argc - 2) / 2;
	ns = calloc((size_t)n * (size_t)m, sizeof *ns);
	if (ns == NULL)
		return 1;
	for (k = -1; k < n; k++) {
		for (j = 0; j < m; j++) {
			int exec_it = strcmp(argv[2 + 2 * j], "exec") == 0;
			t = now_ns();
			if (one(exec_it, argv[3 + 2 * j]) != 0) {
				fprintf(stderr, "floordrv: %s %s failed\n", argv[2 + 2 * j], argv[3 + 2 * j]);
				return 1;
			}
			if (k >= 0)
				ns[k * m + j] = now_ns() - t;
		}
	}
	for (j = 0; j < m; j++) {
		for (i = 0; i < n; i++)
			printf(i ? " %lld" : "%lld", ns[i * m + j]);
		printf("\n");
	}
	return 0;
}
`

const floorCLib = "int floor_call(void) { return 42; }\n"

// floorGoLib is the minimal Go c-shared library; imports are blank
// imports put in place of IMPORTS.
const floorGoLib = `package main

import "C"

IMPORTS//export floor_call
func floor_call() C.int { return 42 }

func main() {}
`

const floorStatic = "package main\n\nfunc main() {}\n"

// floorKit is the built helpers.
type floorKit struct {
	dir     string
	driver  string
	cLib    string
	goLib   string
	impLib  string
	static  string
	imports []string // the module's packages floor_imports.so imports
}

// floorSpecs are what floordrv runs, in the order of floorKit.rows' (a)–(d).
func (k *floorKit) specs() []string {
	return []string{"dl", k.cLib, "dl", k.goLib, "dl", k.impLib, "exec", k.static}
}

// goTool is the go command: $GO, or go on PATH, or the one that built the bench.
func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildFloor builds the helpers into WorkDir/floor.
func buildFloor(b *Bench) (*floorKit, error) {
	k := &floorKit{dir: filepath.Join(b.WorkDir, "floor")}
	src := filepath.Join(k.dir, "src")
	k.driver = filepath.Join(k.dir, "floordrv")
	k.cLib = filepath.Join(k.dir, "floor_c.so")
	k.goLib = filepath.Join(k.dir, "floor_go.so")
	k.impLib = filepath.Join(k.dir, "floor_imports.so")
	k.static = filepath.Join(k.dir, "floor_static")
	run := func(dir string, env []string, name string, args ...string) error {
		cmd := exec.CommandContext(b.Ctx, name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v: %s", filepath.Base(name), strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	gcc := os.Getenv("CC")
	if gcc == "" {
		gcc = "gcc"
	}
	gobin := goTool()

	// The module's packages the Go half links (the main package itself aside).
	cmd := exec.CommandContext(b.Ctx, gobin, "list", "-deps", "-f", `{{if and .Module .Module.Main (ne .Name "main")}}{{.ImportPath}}{{end}}`, "./pam")
	cmd.Dir = b.RepoDir
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%v: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, fmt.Errorf("go list -deps ./pam: %w", err)
	}
	k.imports = strings.Fields(string(out))
	if len(k.imports) == 0 {
		return nil, errors.New("go list -deps ./pam: no packages of this module")
	}
	var imp strings.Builder
	for _, p := range k.imports {
		fmt.Fprintf(&imp, "import _ %q\n", p)
	}
	goVersion, err := moduleGoVersion(b.RepoDir)
	if err != nil {
		return nil, err
	}
	// A module of its own in a workspace with this one: it may import this
	// module's packages, with this module's go.sum, and nothing in the
	// source tree is touched.
	files := map[string]string{
		"floordrv.c":      floorDriver,
		"floor_c.c":       floorCLib,
		"go.mod":          "module totpd-bench/floor\n\ngo " + goVersion + "\n",
		"go.work":         fmt.Sprintf("go %s\n\nuse (\n\t.\n\t%s\n)\n", goVersion, b.RepoDir),
		"min/main.go":     strings.Replace(floorGoLib, "IMPORTS", "", 1),
		"imports/main.go": strings.Replace(floorGoLib, "IMPORTS", imp.String()+"\n", 1),
		"static/main.go":  floorStatic,
	}
	for name, text := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			return nil, err
		}
	}
	// As pam/build.sh builds the loader and the Go half.
	cHarden := []string{"-O2", "-Wall", "-Wl,-z,relro,-z,now"}
	if err := run(src, nil, gcc, append(cHarden, "-o", k.driver, "floordrv.c", "-ldl")...); err != nil {
		return nil, err
	}
	if err := run(src, nil, gcc, append(cHarden, "-shared", "-fPIC", "-o", k.cLib, "floor_c.c")...); err != nil {
		return nil, err
	}
	goEnv := []string{"GOWORK=" + filepath.Join(src, "go.work"), "CGO_ENABLED=1"}
	for _, l := range []struct{ out, pkg string }{{k.goLib, "./min"}, {k.impLib, "./imports"}} {
		if err := run(src, goEnv, gobin, "build", "-trimpath", "-ldflags=-s -extldflags=-Wl,-z,relro,-z,now", "-buildmode=c-shared", "-o", l.out, l.pkg); err != nil {
			return nil, err
		}
	}
	if err := run(src, append(goEnv, "CGO_ENABLED=0"), gobin, "build", "-trimpath", "-ldflags=-s", "-o", k.static, "./static"); err != nil {
		return nil, err
	}
	return k, nil
}

// moduleGoVersion reads the go line of dir/go.mod.
func moduleGoVersion(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "go" {
			return f[1], nil
		}
	}
	return "", errors.New("go.mod has no go line")
}

// measure runs floordrv for n rounds and reports the times of each spec,
// in the order of specs.
func (k *floorKit) measure(b *Bench, n int) ([][]time.Duration, error) {
	specs := k.specs()
	cmd := exec.CommandContext(b.Ctx, k.driver, append([]string{strconv.Itoa(n)}, specs...)...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("floordrv: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(specs)/2 {
		return nil, fmt.Errorf("floordrv: %d lines of output, want %d", len(lines), len(specs)/2)
	}
	got := make([][]time.Duration, len(lines))
	for i, l := range lines {
		f := strings.Fields(l)
		if len(f) != n {
			return nil, fmt.Errorf("floordrv: %d times on line %d, want %d", len(f), i+1, n)
		}
		for _, s := range f {
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("floordrv: %v", err)
			}
			got[i] = append(got[i], time.Duration(v))
		}
	}
	return got, nil
}

// floorStat is one floor: best of its runs and p50.
type floorStat struct {
	Best, P50 time.Duration
	N         int
}

func floorOf(d []time.Duration) floorStat {
	s := summarize(d)
	best := time.Duration(0)
	for i, x := range d {
		if i == 0 || x < best {
			best = x
		}
	}
	return floorStat{Best: best, P50: s.P50, N: s.N}
}

func (f floorStat) String() string {
	return fmt.Sprintf("best %s, p50 %s", fmtMs(f.Best), fmtMs(f.P50))
}

// over says what f costs above g: best minus best and p50 minus p50.
func (f floorStat) over(g floorStat, name string) string {
	word := "over"
	if f.Best < g.Best || f.P50 < g.P50 {
		word = "vs"
	}
	return fmt.Sprintf("%s, p50 %s %s %s", fmtDelta(f.Best-g.Best), fmtDelta(f.P50-g.P50), word, name)
}

func fmtDelta(d time.Duration) string {
	if d < 0 {
		return "−" + fmtMs(-d)
	}
	return "+" + fmtMs(d)
}

func (f floorStat) row(what, of, ratio, note string) Row {
	return Row{What: what, Ours: f.String(), Anchor: of, Ratio: ratio, Status: StatusInfo, Note: note,
		Value: ms(f.Best), Unit: "ms",
		Extra: map[string]float64{"best_ms": ms(f.Best), "p50_ms": ms(f.P50), "runs": float64(f.N)}}
}
