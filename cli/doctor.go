package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/totpd/totpd/cli/doctor"
	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
)

// doctorHost is what doctor reads of the host beyond the files it is
// given; tests replace it.
var doctorHost = struct {
	moduleDirs []string
	sshdT      func(ctx context.Context) (*doctor.SSHDConfig, error) // nil result and nil error: no sshd
	clock      func() (bool, error)
}{
	moduleDirs: doctor.DefaultModuleDirs(),
	sshdT:      runSSHDT,
	clock:      doctor.ClockSynced,
}

// doctorCmd is `totpctl doctor`.
var doctorCmd = &command{
	path: "doctor", args: "[SERVICE ...]", maxArgs: 100, admin: true,
	summary: "check PAM and sshd for ways around the code",
	help: `Reads the PAM auth stacks of the SERVICEs (default: sshd, login, su, sudo
and every service whose stack uses pam_totpd.so) as libpam reads them
(include, substack, @include, -type, [value=action] with jumps), and for
sshd its effective configuration (sshd -T). It tries every result the other
modules can give and reports, with file and line:
  - a way in without the code for an enrolled user (pam_totpd.so optional,
    skipped by sufficient, done or a jump, sshd methods that skip PAM,
    PasswordAuthentication yes before a stack that checks no password,
    UsePAM no, the module file writable by someone other than root);
  - the code asked after a factor that already failed (anyone can use up
    a user's tries, or enroll at login);
and as warnings: KbdInteractiveAuthentication no where it is needed, the
daemon not answering, the clock not synchronised.

  --pam-dir DIR        read services from DIR instead of /etc/pam.d
  --sshd-config FILE   read this sshd_config (Include followed, Match
                       blocks reported, not evaluated) instead of sshd -T

Exit 0 when no service has a hole (warnings allowed), 1 when one does.
JSON: {"ok", "holes", "warnings", "services": [{"service", "file",
"uses_totpd", "without_code", "asked_after_failure", "findings"}],
"system": [findings]}; a finding is {"severity" (hole, warning, ok),
"check", "service", "file", "line", "message", "path"}.`,
	flags: func(fs *flag.FlagSet, o *opts) {
		fs.StringVar(&o.pamDir, "pam-dir", o.pamDir, "read PAM services from `DIR`")
		fs.StringVar(&o.sshdConfig, "sshd-config", o.sshdConfig, "read sshd's configuration from `FILE`")
	},
	run: runDoctor,
}

func runDoctor(c *cmdCtx, args []string) error {
	o := doctor.Options{PAMDirs: doctor.DefaultPAMDirs, ModuleDirs: doctorHost.moduleDirs}
	if c.o.pamDir != "" {
		st, err := os.Stat(c.o.pamDir)
		if err != nil || !st.IsDir() {
			return &usageError{msg: fmt.Sprintf("--pam-dir %s: not a directory", c.o.pamDir), hint: c.cmd.path}
		}
		o.PAMDirs = []string{c.o.pamDir}
	}
	for _, s := range args {
		if err := checkServiceName(s); err != nil {
			return &usageError{msg: err.Error(), hint: c.cmd.path}
		}
	}
	if len(args) > 0 {
		o.Services = args
	}
	if c.o.sshdConfig != "" {
		if st, err := os.Stat(c.o.sshdConfig); err != nil || !st.Mode().IsRegular() {
			return &usageError{msg: fmt.Sprintf("--sshd-config %s: not a readable file", c.o.sshdConfig), hint: c.cmd.path}
		}
		cfg, err := doctor.ReadSSHDConfig(c.o.sshdConfig)
		if err != nil {
			return fmt.Errorf("reading %s: %w", c.o.sshdConfig, err)
		}
		o.SSHD = cfg
	} else if len(args) == 0 || slices.Contains(args, doctor.SSHDService) {
		ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
		cfg, err := doctorHost.sshdT(ctx)
		cancel()
		switch {
		case err != nil:
			o.SSHDError = fmt.Sprintf("sshd's settings not checked: %v (run as root, or give --sshd-config FILE)", err)
		case cfg != nil:
			o.SSHD = cfg
		}
	}
	r := doctor.Check(o)
	r.AddSystem(daemonFinding(c))
	if f, ok := clockFinding(); ok {
		r.AddSystem(f)
	}
	if c.o.json {
		if err := writeJSON(c.out(), r); err != nil {
			return err
		}
	} else {
		r.WriteText(c.out())
	}
	if !r.OK {
		return silentError{}
	}
	return nil
}

// checkServiceName refuses what cannot name a file in the PAM directory.
func checkServiceName(s string) error {
	if s == "" || s == "." || s == ".." || len(s) > 255 || strings.ContainsAny(s, "/\x00") {
		return fmt.Errorf("%q is not a PAM service name (a file name in /etc/pam.d)", s)
	}
	return nil
}

// daemonFinding asks the daemon for the caller's status: any answer, even
// a refusal, shows it is up.
func daemonFinding(c *cmdCtx) doctor.Finding {
	socket := client.ResolveSocket(c.o.socket, c.e.euid())
	_, err := c.call(wire.Request{Op: wire.OpStatus})
	var we *wire.Error
	if err != nil && !errors.As(err, &we) {
		return doctor.Finding{Severity: doctor.Warning, Check: "daemon", File: socket, Message: err.Error() + "; until it answers, every login that needs a code fails"}
	}
	return doctor.Finding{Severity: doctor.Info, Check: "daemon", File: socket, Message: "totpd answers"}
}

func clockFinding() (doctor.Finding, bool) {
	synced, err := doctorHost.clock()
	switch {
	case err != nil:
		return doctor.Finding{Severity: doctor.Warning, Check: "clock", Message: fmt.Sprintf("cannot tell whether the clock is synchronised: %v", err)}, true
	case !synced:
		return doctor.Finding{Severity: doctor.Warning, Check: "clock", Message: "the clock is not synchronised (the kernel reports STA_UNSYNC): codes follow the time, so a drifting clock refuses right codes; run NTP (systemd-timesyncd, chrony)"}, true
	}
	return doctor.Finding{Severity: doctor.Info, Check: "clock", Message: "the clock is synchronised"}, true
}

// runSSHDT reads sshd's effective configuration, or reports no sshd.
func runSSHDT(ctx context.Context) (*doctor.SSHDConfig, error) {
	bin, err := exec.LookPath("sshd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/sshd"); serr != nil {
			return nil, nil
		}
		bin = "/usr/sbin/sshd"
	}
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-T")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s -T: %v: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	cfg, err := doctor.ParseSSHDT(&out)
	if err != nil {
		return nil, err
	}
	// sshd -T prints the global settings only: the Match blocks come from
	// the file, so that they are reported too.
	if file, ferr := doctor.ReadSSHDConfig("/etc/ssh/sshd_config"); ferr == nil {
		cfg.Matches = file.Matches
	}
	return cfg, nil
}
