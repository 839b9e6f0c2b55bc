package main

// This file checks that this machine can run the demo, before it changes anything.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// check finds the tools, the repository and the build, or says what is missing.
func (d *demo) check(buildDir string) error {
	d.tools = map[string]string{}
	for _, t := range tools {
		p, err := exec.LookPath(t.name)
		if err != nil && !strings.Contains(t.name, "/") {
			for _, dir := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
				if q := filepath.Join(dir, t.name); isExecutable(q) {
					p, err = q, nil
					break
				}
			}
		}
		if err != nil {
			return fmt.Errorf("%s is missing: install the Debian package %s (apt-get install %s)", t.name, t.pkg, t.pkg)
		}
		d.tools[t.name] = p
	}
	build, err := filepath.Abs(buildDir)
	if err != nil {
		return err
	}
	d.build = build
	for _, f := range []string{"totpd", "totpctl", "pam_totpd.so", "pam_totpd_go.so"} {
		if _, err := os.Stat(filepath.Join(build, f)); err != nil {
			return fmt.Errorf("%s/%s is missing: run make build first", buildDir, f)
		}
	}
	// What pam_totpd.so checks before it loads its Go half into a root host.
	for _, p := range []string{build, filepath.Join(build, "pam_totpd_go.so")} {
		if err := rootsAlone(p); err != nil {
			return fmt.Errorf("%v: pam_totpd.so refuses to load code that is not root's alone (chmod go-w, or make build as root with umask 022)", err)
		}
	}
	d.repo, err = findRepo(build)
	if err != nil {
		return err
	}
	return nil
}

// rootsAlone reports an error unless p is root's and not group- or world-writable.
func rootsAlone(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 || fi.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s must be owned by root and not writable by group or others (it is uid %d, %v)", p, st.Uid, fi.Mode())
	}
	return nil
}

// findRepo reports the source tree holding contrib/: the build
// directory's parent, or the working directory or one above it.
func findRepo(build string) (string, error) {
	var tries []string
	tries = append(tries, filepath.Dir(build))
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			tries = append(tries, d)
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	for _, d := range tries {
		if _, err := os.Stat(filepath.Join(d, "contrib", stackFile)); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("cannot find contrib/%s: run the demo from the totpd source tree", stackFile)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// othersCanRun reports whether a user other than root may execute p:
// every directory above it searchable by others, p executable by others.
func othersCanRun(p string) bool {
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm()&0o001 == 0 {
		return false
	}
	for d := filepath.Dir(p); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if filepath.Dir(d) == d {
			return true
		}
	}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// saveTerminal reports a function that puts the terminal back as it was
// now, in case a program killed in it left echo off or raw mode on.
func saveTerminal(f *os.File) func() {
	old, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, old) }
}
