package client

// The connection: a Unix stream socket used with plain blocking system
// calls, not the net package. A call is one short exchange in a process
// that often lives for one login (the PAM module's child), where the net
// package's poller would start, add a thread's wakeups to every read, and
// page in its code, for nothing: blocking calls with the kernel's socket
// timeouts bound each step as well.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// errTimeout reports that the call's deadline passed in the middle of the exchange.
var errTimeout = errors.New("timed out")

// conn is a connected Unix stream socket whose every read and write must
// end by deadline.
type conn struct {
	fd       int
	deadline time.Time
}

// connect connects to the Unix socket at path, waiting until by at most
// (a blocking connect waits while the listen queue is full, and reports
// EAGAIN when its timeout ends first), for an exchange that must end by
// deadline.
func connect(path string, by, deadline time.Time) (*conn, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	c := &conn{fd: fd, deadline: by}
	// Each try is armed with what is left: a socket timeout is per system
	// call, and a signal (a terminal resize under su) would otherwise
	// restart the whole wait again and again.
	for {
		if err = c.arm(unix.SO_SNDTIMEO); err != nil {
			c.Close()
			return nil, err
		}
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	c.deadline = deadline
	if err != nil {
		c.Close()
		return nil, &os.PathError{Op: "connect", Path: path, Err: err}
	}
	return c, nil
}

// arm sets the socket's timeout opt (SO_SNDTIMEO or SO_RCVTIMEO) to what
// is left until the deadline; errTimeout when nothing is.
func (c *conn) arm(opt int) error {
	left := time.Until(c.deadline)
	if left <= 0 {
		return errTimeout
	}
	tv := unix.NsecToTimeval(max(left, time.Microsecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(c.fd, unix.SOL_SOCKET, opt, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	return nil
}

// Read implements io.Reader, blocking until the deadline at most, however
// many signals interrupt it.
func (c *conn) Read(b []byte) (int, error) {
	for {
		if err := c.arm(unix.SO_RCVTIMEO); err != nil {
			return 0, err
		}
		n, err := unix.Read(c.fd, b)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return 0, errTimeout
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0 && len(b) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

// Write implements io.Writer, blocking until the deadline at most.
func (c *conn) Write(b []byte) (int, error) {
	done := 0
	for done < len(b) {
		if err := c.arm(unix.SO_SNDTIMEO); err != nil {
			return done, err
		}
		n, err := unix.Write(c.fd, b[done:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return done, errTimeout
		case err != nil:
			return done, os.NewSyscallError("write", err)
		}
		done += n
	}
	return done, nil
}

// Close closes the socket.
func (c *conn) Close() error { return unix.Close(c.fd) }

// peerUID reports the uid of the process listening at the other end, by
// the kernel's SO_PEERCRED.
func (c *conn) peerUID() (uint32, error) {
	cred, err := unix.GetsockoptUcred(c.fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, fmt.Errorf("checking who serves the socket (SO_PEERCRED): %w", err)
	}
	return cred.Uid, nil
}

// busyDialFor bounds how long dial retries a socket whose queue is full.
// The daemon drains its queue in microseconds, so a full one means a
// flood (a local user connecting in a tight loop); a daemon that is gone
// but left its socket answers the same way, and must not hold a login
// for the whole timeout.
const busyDialFor = time.Second

// dial connects to the Unix socket at path by deadline. Linux refuses a
// connection (ECONNREFUSED, or EAGAIN once a wait for a full listen queue
// timed out) while the queue is full, so such refusals are retried with
// a short backoff for up to busyDialFor within ctx: a flood of another
// user's connections must not fail a login.
func dial(ctx context.Context, path string, deadline time.Time) (*conn, error) {
	give := time.Now().Add(busyDialFor)
	pause := 2 * time.Millisecond
	for {
		by := deadline
		if give.Before(by) {
			by = give
		}
		c, err := connect(path, by, deadline)
		if err == nil || !(errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ECONNREFUSED)) || time.Now().After(give) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}
