package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"syscall"
)

// FleetProgram is the daemon built with fleet mode. /usr/sbin/totpd is
// built without it (tag nofleet): the etcd client and gRPC it needs
// doubled an idle daemon's memory (7 to 15 MiB, mostly pages of the
// larger binary touched at start) for every host that is not in a fleet.
// When [cluster] backend = "etcd", totpd execs this program in its place,
// same pid (systemd's MAINPID, socket activation and sd_notify carry
// over) and same arguments.
const FleetProgram = "totpd-fleet"

// fleetMemoryLimit is fleet mode's heap bound: its host holds the etcd
// client's buffers and a copy of every record besides the local journal,
// about 33 MiB with 10,000 users, and under the single host's 15 MiB the
// collector ran without pause (a third of the CPU, 390 verifications/s at
// 64 clients; 64 MiB: 866/s). GOMEMLIMIT in the environment wins.
const fleetMemoryLimit = 64 << 20

// fleetPaths are where execFleet looks for FleetProgram, relative to the
// running program's directory: beside it (a build directory), and the
// package's /usr/libexec/totpd beside /usr/sbin.
var fleetPaths = []string{FleetProgram, "../libexec/totpd/" + FleetProgram}

// execFleet replaces this process with FleetProgram. It returns only on
// error. The program must be a regular file owned by root and writable
// by no one else, since it runs as root with the master key.
func execFleet() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("fleet mode: finding this program: %w", err)
	}
	var tried []string
	for _, rel := range fleetPaths {
		path := filepath.Clean(filepath.Join(filepath.Dir(self), rel))
		fi, err := os.Lstat(path)
		if errors.Is(err, os.ErrNotExist) {
			tried = append(tried, path)
			continue
		}
		if err != nil {
			return fmt.Errorf("fleet mode: %w", err)
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if !fi.Mode().IsRegular() || st == nil || st.Uid != 0 || fi.Mode().Perm()&0o022 != 0 {
			return fmt.Errorf("fleet mode: %s must be a regular file owned by root and writable by no one else (it is %v, uid %d); reinstall the totpd package", path, fi.Mode(), st.Uid)
		}
		argv := append([]string{path}, os.Args[1:]...)
		return fmt.Errorf("fleet mode: running %s: %w", path, syscall.Exec(path, argv, os.Environ()))
	}
	return fmt.Errorf("fleet mode ([cluster] backend = \"etcd\") needs %s, which is not installed (looked at %v): reinstall the totpd package", FleetProgram, tried)
}

// fleetMemory raises the heap bound for fleet mode (fleetMemoryLimit),
// unless GOMEMLIMIT is set.
func fleetMemory() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(fleetMemoryLimit)
	}
}
