package hostkit

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/creack/pty"

	"github.com/totpd/totpd/e2e/testutils"
)

// Term is a program on a pseudo-terminal (its controlling terminal, in a
// session of its own), driven as a person would: wait for text, type a
// line.
type Term struct {
	cmd    *exec.Cmd
	ptmx   *os.File
	out    testutils.LockedBuffer
	seen   int // how much of out the expectations so far consumed
	done   chan struct{}
	copied chan struct{}
	err    error
}

// StartTerm starts cmd on a new pseudo-terminal of rows × cols.
func StartTerm(cmd *exec.Cmd, rows, cols uint16) (*Term, error) {
	h := &Term{cmd: cmd, done: make(chan struct{}), copied: make(chan struct{})}
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: rows, Cols: cols})
	if err != nil {
		return nil, fmt.Errorf("starting %v on a pty: %w", cmd.Args, err)
	}
	h.ptmx = ptmx
	go func() {
		// Ends with EIO once no process holds the terminal open.
		_, _ = io.Copy(&h.out, ptmx)
		close(h.copied)
	}()
	go func() {
		h.err = cmd.Wait()
		close(h.done)
	}()
	return h, nil
}

// Expect waits until the terminal shows s after what earlier expectations
// consumed, and consumes up to its end.
func (h *Term) Expect(s string, timeout time.Duration) error {
	_, err := h.ExpectAny(timeout, s)
	return err
}

// ExpectAny waits until the terminal shows one of ss after what earlier
// expectations consumed, consumes up to the end of the first one shown,
// and reports its index. It gives up after timeout, or at once (with
// ErrExited) when the program is gone and its output is all read.
func (h *Term) ExpectAny(timeout time.Duration, ss ...string) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		finished := false
		select {
		case <-h.copied:
			finished = true
		default:
		}
		all := h.out.String()
		best, at := -1, len(all)
		for i, s := range ss {
			if j := strings.Index(all[h.seen:], s); j >= 0 && h.seen+j < at {
				best, at = i, h.seen+j
			}
		}
		if best >= 0 {
			h.seen = at + len(ss[best])
			return best, nil
		}
		if finished {
			return -1, fmt.Errorf("%v ended without showing %q (it showed: %q): %w", h.cmd.Args, ss, all, ErrExited)
		}
		if time.Now().After(deadline) {
			return -1, fmt.Errorf("timed out after %v waiting for %q on the terminal of %v (so far: %q)", timeout, ss, h.cmd.Args, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Type sends a line, as typed.
func (h *Term) Type(line string) error {
	_, err := h.ptmx.Write([]byte(line + "\n"))
	return err
}

// Wait waits at most timeout for the program to end and reports its exit
// status (-1 for a signal).
func (h *Term) Wait(timeout time.Duration) (int, error) {
	select {
	case <-h.done:
	case <-time.After(timeout):
		return 0, fmt.Errorf("%v still running after %v", h.cmd.Args, timeout)
	}
	var ee *exec.ExitError
	if errors.As(h.err, &ee) {
		return ee.ExitCode(), nil
	}
	return 0, h.err
}

// Done is closed when the program has ended.
func (h *Term) Done() <-chan struct{} { return h.done }

// Output reports everything the terminal showed.
func (h *Term) Output() string { return h.out.String() }

// Close kills what is left of the program (its process group: the
// session pty.Start made it the leader of) and closes the terminal.
func (h *Term) Close() {
	select {
	case <-h.done:
	default:
		_ = syscall.Kill(-h.cmd.Process.Pid, syscall.SIGKILL)
		<-h.done
	}
	h.ptmx.Close()
	<-h.copied
}
