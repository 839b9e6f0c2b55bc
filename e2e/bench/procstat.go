package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/e2e/hostkit"
)

// usage is what a process has spent so far: CPU (all threads, user +
// system) and bytes it caused to be written to storage.
type usage struct {
	cpu        time.Duration
	writeBytes int64
}

func (a usage) sub(b usage) usage {
	return usage{cpu: a.cpu - b.cpu, writeBytes: a.writeBytes - b.writeBytes}
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat;
// 100 on every Linux that matters.
const clockTick = 100

// procUsage reads /proc/PID/stat and /proc/PID/io.
func procUsage(pid int) (usage, error) {
	var u usage
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return u, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // stime, field 15
	u.cpu = time.Duration(ut+st) * time.Second / clockTick
	if io, err := os.Open(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		sc := bufio.NewScanner(io)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
				u.writeBytes, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		io.Close()
	}
	return u, nil
}

// selfUsage reports this process's CPU so far (the load generator's cost).
func selfUsage() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// loadavg reports the 1-minute load average.
func loadavg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// syncfs flushes the file system holding dir, so that a timed run does not
// pay for the writeback of the phase before it.
func syncfs(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	unix.Syncfs(fd)
}

// nssProbeFlag makes the bench binary, re-executed inside a mount
// namespace with the generated /etc, time NSS lookups and print them.
const nssProbeFlag = "nss-probe"

// nssProbe runs in the namespace: it times getpwnam (os/user, through
// libc like totpd) for accounts early, in the middle and at the end of
// /etc/passwd, and prints the mean per lookup in nanoseconds.
func nssProbe(names []string) {
	var total time.Duration
	n := 0
	for _, name := range names {
		for range 50 {
			t := time.Now()
			if err := lookupUser(name); err != nil {
				fmt.Fprintf(os.Stderr, "nss probe: %v\n", err)
				os.Exit(1)
			}
			total += time.Since(t)
			n++
		}
	}
	fmt.Println(int64(total) / int64(n))
}

// measureNSS re-executes this program inside a namespace like the
// daemon's and reports the mean getpwnam time for a spread of the bench
// accounts.
func measureNSS(etcOverlay string, names []string) (time.Duration, error) {
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	var pick []string
	for _, q := range []int{0, len(names) / 4, len(names) / 2, 3 * len(names) / 4, len(names) - 1} {
		pick = append(pick, names[q])
	}
	argv, err := hostkit.EtcOverlay(etcOverlay)
	if err != nil {
		return 0, err
	}
	argv = append(argv, self, "-"+nssProbeFlag, strings.Join(pick, ","))
	out, err := exec.Command(argv[0], argv[1:]...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return 0, fmt.Errorf("nss probe: %w", err)
	}
	ns, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("nss probe said %q", out)
	}
	return time.Duration(ns), nil
}

func lookupUser(name string) error {
	_, err := user.Lookup(name)
	return err
}

// cgoSetting reports how this binary was built (os/user goes through libc
// only with cgo, as in totpd built by make build).
func cgoSetting() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "CGO_ENABLED" {
				return s.Value
			}
		}
	}
	return "?"
}

// pressure reports the "some avg10" share (percent) of /proc/pressure/KIND
// (cpu or io): how much of the last 10 s some task waited for it; -1 if
// the kernel does not say.
func pressure(kind string) float64 {
	b, err := os.ReadFile("/proc/pressure/" + kind)
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "some "); ok {
			for _, f := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(f, "avg10="); ok {
					x, _ := strconv.ParseFloat(v, 64)
					return x
				}
			}
		}
	}
	return -1
}
