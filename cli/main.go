// Command totpctl is the command line of totpd: users enroll their
// authenticator app and look at their status; admins manage users.
//
// Exit status: 0 ok, 1 refused or failed, 2 usage, 3 daemon unreachable;
// and 4 for `cluster status` when the host is offline (fleet mode).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
)

// Exit statuses (totpctl(1)).
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitUnavailable = 3
	// exitOffline is `cluster status` on a host whose etcd cluster does
	// not answer (fleet mode): distinct from 3, where the daemon itself
	// does not, so that monitoring can tell the two apart.
	exitOffline = 4
)

// caller sends one request to the daemon; *client.Client is one, tests use fakes.
type caller interface {
	Call(ctx context.Context, req wire.Request) (*wire.Response, error)
}

// env is everything a command touches outside itself, so tests can fix it.
type env struct {
	stdout io.Writer
	stderr io.Writer
	// now is the local clock, for "in 3 days".
	now func() time.Time
	// loc is the zone people read times in.
	loc *time.Location
	// dial makes the caller for --socket and --timeout.
	dial func(socket string, timeout time.Duration) caller
	// readCode reads one line from the terminal without echo when stdin is
	// one, else a plain line from stdin.
	readCode func(prompt string) (string, error)
	// stdinIsTerminal reports whether prompting makes sense.
	stdinIsTerminal func() bool
	// readSecret prints prompt on stderr (stdout may be --json for a
	// script) and reads one line from the terminal with echo off. It is
	// used only when stdinIsTerminal.
	readSecret func(prompt string) (string, error)
	// stdin is where a code comes from when stdin is no terminal, a line
	// at a time: echo CODE | totpctl disable.
	stdin io.Reader
	// euid is the effective uid: root ignores $TOTPD_SOCKET.
	euid func() int
}

func defaultEnv() *env {
	e := &env{
		stdout: os.Stdout,
		stderr: os.Stderr,
		now:    time.Now,
		loc:    time.Local,
		dial: func(socket string, timeout time.Duration) caller {
			return client.New(socket, timeout)
		},
		stdinIsTerminal: func() bool { return isTerminal(os.Stdin) },
		stdin:           os.Stdin,
		euid:            os.Geteuid,
	}
	e.readCode = func(prompt string) (string, error) {
		return readLineNoEcho(os.Stdin, e.stdout, prompt)
	}
	e.readSecret = func(prompt string) (string, error) {
		return readLineNoEcho(os.Stdin, e.stderr, prompt)
	}
	return e
}

func main() {
	os.Exit(run(os.Args[1:], defaultEnv()))
}

// usageError is a mistake on the command line: exit 2 with a one-line hint.
type usageError struct {
	msg  string
	hint string // the command to ask for help on, "" for the top level
}

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...)}
}

// silentError fails with exit 1 after the command has said why itself.
type silentError struct{}

func (silentError) Error() string { return "failed" }

// exitError exits with its status after the command has printed its
// output, with nothing on stderr (cluster status: offline).
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// run executes one command line and reports the exit status.
func run(args []string, e *env) int {
	err := dispatch(args, e)
	return report(err, e)
}

// report prints err for people and maps it to an exit status.
func report(err error, e *env) int {
	if err == nil {
		return exitOK
	}
	var ue *usageError
	var we *wire.Error
	var rf *refusal
	var se silentError
	var xe exitError
	switch {
	case errors.As(err, &ue):
		help := "totpctl help"
		if ue.hint != "" {
			help = "totpctl " + ue.hint + " --help"
		}
		fmt.Fprintf(e.stderr, "totpctl: %s (see '%s')\n", ue.msg, help)
		return exitUsage
	case client.IsUnavailable(err):
		fmt.Fprintf(e.stderr, "totpctl: %v\n", err)
		return exitUnavailable
	case errors.As(err, &rf):
		fmt.Fprintf(e.stderr, "totpctl: %s\n", strings.TrimSpace(rf.err.Message))
		for _, m := range rf.messages {
			fmt.Fprintf(e.stderr, "totpctl: %s\n", strings.TrimSpace(m.Text))
		}
		return exitFailed
	case errors.As(err, &se):
		return exitFailed
	case errors.As(err, &xe):
		return xe.code
	case errors.As(err, &we):
		fmt.Fprintf(e.stderr, "totpctl: %s\n", strings.TrimSpace(we.Message))
		return exitFailed
	default:
		fmt.Fprintf(e.stderr, "totpctl: %v\n", err)
		return exitFailed
	}
}
