package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultPAMDirs are where libpam looks for a service, in order.
var DefaultPAMDirs = []string{"/etc/pam.d", "/usr/lib/pam.d"}

// DefaultModuleDirs are the module directories of the distributions
// totpd ships for (Debian's multiarch directory, RPM's lib64), then the
// plain ones.
func DefaultModuleDirs() []string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "386": "i386-linux-gnu", "arm": "arm-linux-gnueabihf", "ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu", "riscv64": "riscv64-linux-gnu"}[runtime.GOARCH]
	var dirs []string
	if triplet != "" {
		dirs = append(dirs, "/usr/lib/"+triplet+"/security", "/lib/"+triplet+"/security")
	}
	return append(dirs, "/usr/lib64/security", "/lib64/security", "/usr/lib/security", "/lib/security")
}

func statRegular(p string) (os.FileInfo, error) {
	st, err := os.Stat(p)
	if err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", p)
	}
	return st, err
}

// listDir reports the regular files of dir, sorted; none when unreadable.
func listDir(dir string) []string {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if t := e.Type(); t.IsRegular() || t&os.ModeSymlink != 0 {
			if _, err := statRegular(filepath.Join(dir, e.Name())); err == nil {
				out = append(out, e.Name())
			}
		}
	}
	sort.Strings(out)
	return out
}

func baseOf(p string) string { return filepath.Base(p) }

// CheckModuleFile reports why path (a module libpam loads as root) could
// be replaced by someone other than root: the file, or a directory on the
// way to it, not owned by root or writable by group or others (a sticky
// directory such as /tmp is fine for a root-owned entry). "" when sound.
func CheckModuleFile(path string) string {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return fmt.Sprintf("cannot resolve %s: %v", path, err)
	}
	st, err := os.Stat(real)
	if err != nil {
		return err.Error()
	}
	if why := unsafeEntry(real, st, false); why != "" {
		return why
	}
	for dir := filepath.Dir(real); ; dir = filepath.Dir(dir) {
		dst, err := os.Stat(dir)
		if err != nil {
			return err.Error()
		}
		if why := unsafeEntry(dir, dst, true); why != "" {
			return why
		}
		if dir == "/" {
			return ""
		}
	}
}

func unsafeEntry(p string, st os.FileInfo, dir bool) string {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	what := "file"
	if dir {
		what = "directory"
	}
	if sys.Uid != 0 {
		return fmt.Sprintf("%s %s is owned by uid %d, not root: its owner can make it let anyone in (chown root:root %s)", what, p, sys.Uid, p)
	}
	if st.Mode().Perm()&0o022 != 0 && !(dir && st.Mode()&os.ModeSticky != 0) {
		return fmt.Sprintf("%s %s is writable by group or others (mode %04o): they can make it let anyone in (chmod go-w %s)", what, p, st.Mode().Perm(), p)
	}
	return ""
}

// ClockSynced reports whether the kernel says the clock is synchronised
// (adjtimex without STA_UNSYNC), as timedatectl's "System clock
// synchronized" does.
func ClockSynced() (bool, error) {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return false, err
	}
	return state != unix.TIME_ERROR && tx.Status&unix.STA_UNSYNC == 0, nil
}
