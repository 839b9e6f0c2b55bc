// Command demo is `make demo` and `make demo-test` (README, "The demo"): the
// whole of totpd tried on this machine without touching its login
// configuration.
//
// It starts the real build/totpd with a configuration of its own (socket,
// state and master key in one temporary directory), creates a user
// totpd-demo whose home is in that directory, writes the PAM service
// /etc/pam.d/totpd-demo-sshd-XXXX (contrib/pam.d/sshd-key-and-code with
// the module's absolute path and socket=, as the host tests do), runs
// /usr/sbin/sshd through a symlink of that name on a free 127.0.0.1 port
// with contrib/sshd_config.d/totpd-key-and-code.conf as shipped, enrolls
// the user with `totpctl enroll` (the QR code on the person's terminal),
// and logs in with the real OpenSSH client, which asks for the code.
//
// With -auto (make demo-test) nobody is there: the wizard and ssh run on
// pseudo-terminals, the codes come from the repository's totp package,
// and the run passes only if the login that asked for a code got in and a
// login with a wrong code was refused. It finishes within -timeout.
//
// Everything it made (processes, the PAM file, the user, the directory)
// is removed when it ends, fails, or gets SIGINT, SIGTERM or SIGHUP. A
// user totpd-demo left by a demo that was killed (SIGKILL, power loss) is
// recognised by its home under $TMPDIR/totpd-demo-*/ and removed at the
// next start, with that demo's PAM file and directory; a totpd-demo user
// with any other home is not the demo's and the demo stops. One demo runs
// at a time (a lock in /run/lock).
//
// Usage, as root, after `make build`:
//
//	build/totpd-demo -build build          # make demo
//	build/totpd-demo -build build -auto    # make demo-test
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/e2e/hostkit"
)

const (
	demoUser      = "totpd-demo"
	dirPrefix     = "totpd-demo-"      // the temporary directory: $TMPDIR/totpd-demo-XXXX
	servicePrefix = "totpd-demo-sshd-" // its PAM service: /etc/pam.d/totpd-demo-sshd-XXXX
	pidsFile      = "demo.pids"        // in the directory: what runs from it (and marks it as the demo's)
	lockFile      = "/run/lock/totpd-demo.lock"
	stackFile     = "pam.d/sshd-key-and-code"
	dropInFile    = "sshd_config.d/totpd-key-and-code.conf"
	pamTimeout    = 10 // the module's timeout= (seconds)
)

// Exit statuses: 0 done (-auto: passed), 1 failed, 2 cannot run here,
// 128+N ended by signal N.
const (
	exitFailed = 1
	exitUsage  = 2
)

// sysEnv is the environment of the programs the demo runs as root.
var sysEnv = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"}

// demo is one run: what it made, to be removed in reverse order.
type demo struct {
	auto    bool
	timeout time.Duration
	build   string // absolute: totpd, totpctl, pam_totpd.so
	repo    string // absolute: contrib/
	tools   map[string]string

	ctx    context.Context // cancelled by a signal or, with -auto, the deadline
	cancel context.CancelCauseFunc

	dir     string // the temporary directory
	suffix  string // its random part, shared by the PAM service
	socket  string
	totpctl string // build/totpctl, or a copy in dir the demo user can reach
	account *user.User
	cred    *syscall.Credential
	home    string
	key     string // the client's private key
	known   string // the client's known_hosts
	daemon  *exec.Cmd
	dDone   chan struct{}
	dLog    string
	sshd    *hostkit.SSHD
	sLog    string

	mu   sync.Mutex
	fg   *os.Process   // the program in the person's terminal (interactive)
	term *hostkit.Term // the program on a pty (-auto)

	undo []undoStep
}

// undoStep removes one thing the demo made and says what, for the
// one-line report.
type undoStep struct {
	fn func() (string, error)
}

// signalled is the cancel cause for a signal.
type signalled struct{ sig os.Signal }

func (s signalled) Error() string {
	if n, ok := s.sig.(syscall.Signal); ok {
		return "interrupted (" + unix.SignalName(n) + ")"
	}
	return "interrupted (" + s.sig.String() + ")"
}

// personal is an end that the person's doing explains (a wrong code at
// enrollment): said without the logs.
type personal struct{ msg string }

func (p personal) Error() string { return p.msg }

func main() { os.Exit(run()) }

func run() int {
	buildDir := flag.String("build", "build", "directory with totpd, totpctl, pam_totpd.so and pam_totpd_go.so (make build)")
	auto := flag.Bool("auto", false, "no person: drive the wizard and ssh on pseudo-terminals and check the results (make demo-test)")
	timeout := flag.Duration("timeout", 45*time.Second, "with -auto, the bound on the whole run")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: %s [-build DIR] [-auto [-timeout D]]\n\nRuns totpd's demo (make demo) or, with -auto, its test (make demo-test). Needs root.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		flag.Usage()
		return exitUsage
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "demo: this needs root: it creates the user totpd-demo, writes a PAM service in /etc/pam.d and runs sshd on 127.0.0.1 (all removed at the end). Run: sudo make demo")
		return exitUsage
	}
	d := &demo{auto: *auto, timeout: *timeout}
	if err := d.check(*buildDir); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return exitUsage
	}
	if !d.auto && !isTerminal(os.Stdin) {
		fmt.Fprintln(os.Stderr, "demo: make demo needs a terminal (it shows a QR code and you type codes); without a person, run make demo-test")
		return exitUsage
	}

	// A closed stdout (make demo-test | head) must not kill the demo
	// before it cleans up: with SIGPIPE notified, writes fail instead.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	d.ctx, d.cancel = context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			d.cancel(signalled{sig})
			d.interrupt(sig)
		}
	}()
	release, err := takeLock()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		return exitFailed
	}
	defer release()

	if d.auto {
		t := time.AfterFunc(d.timeout, func() {
			d.cancel(fmt.Errorf("timed out: the run took longer than -timeout %v; everything it started is killed", d.timeout))
			d.interrupt(syscall.SIGKILL)
		})
		defer t.Stop()
	}
	var restoreTerm func()
	if !d.auto {
		restoreTerm = saveTerminal(os.Stdin)
	}

	err = d.tidy()
	if err == nil {
		err = d.setup()
		if err == nil {
			if d.auto {
				err = d.runAuto()
			} else {
				err = d.runInteractive()
			}
		}
	}
	if cause := context.Cause(d.ctx); cause != nil {
		err = cause // whatever failed after a signal or the deadline failed because of it
	}
	if restoreTerm != nil {
		restoreTerm()
	}
	var sig signalled
	var pe personal
	if err != nil {
		if !d.auto {
			fmt.Fprintln(os.Stderr) // the terminal may be in the middle of a line
		}
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		if !errors.As(err, &sig) && !errors.As(err, &pe) {
			d.showLogs()
		}
	}
	d.cleanup()

	switch {
	case errors.As(err, &sig):
		if s, ok := sig.sig.(syscall.Signal); ok {
			return 128 + int(s)
		}
		return exitFailed
	case err != nil:
		if d.auto {
			fmt.Println("demo-test: FAIL")
		}
		return exitFailed
	}
	if d.auto {
		fmt.Println("demo-test: PASS")
	}
	return 0
}

// say prints one line of what the demo does.
func (d *demo) say(format string, args ...any) {
	fmt.Printf("demo: "+format+"\n", args...)
}

// interrupt passes a signal on to the program in the foreground: in the
// person's terminal it may not have had it (kill -TERM of the demo alone);
// on a pty (-auto) it is killed with its process group.
func (d *demo) interrupt(sig os.Signal) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fg != nil {
		_ = d.fg.Signal(sig)
	}
	if d.term != nil {
		d.term.Close()
	}
}

// ---------------------------------------------------------------------
// What the demo needs

// tool is a program the demo runs, with the Debian package that has it.
type tool struct{ name, pkg string }

var tools = []tool{
	{hostkit.SSHDBinary, "openssh-server"},
	{"ssh", "openssh-client"},
	{"ssh-keygen", "openssh-client"},
	{"useradd", "passwd"},
	{"userdel", "passwd"},
}
