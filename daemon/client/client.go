// Package client talks to totpd over its Unix socket. The CLI and the
// PAM module both use it, so there is one implementation of a call:
// dial, send one request, read one response, all under one deadline.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/daemon/wire"
)

// DefaultSocket is where totpd.socket listens: wire.DefaultSocket,
// under the name the PAM module and totpctl use.
const DefaultSocket = wire.DefaultSocket

// SocketEnv names the environment variable that overrides DefaultSocket
// for totpctl run by a user other than root (see ResolveSocket).
const SocketEnv = "TOTPD_SOCKET"

// DefaultTimeout bounds a whole call when the caller gives none.
const DefaultTimeout = 10 * time.Second

// UnavailableError reports that the daemon could not be reached or gave
// no sensible answer: the caller must fail closed (PAM_AUTHINFO_UNAVAIL,
// totpctl exit 3).
type UnavailableError struct {
	Socket string
	Err    error
}

func (e *UnavailableError) Error() string {
	var ws *WrongServerError
	if errors.As(e.Err, &ws) {
		return ws.Error()
	}
	var ve *wire.VersionError
	if errors.As(e.Err, &ve) {
		return fmt.Sprintf("totpd on %s answered in another protocol: %v. Use a totpctl and pam_totpd.so from the same release as totpd (after an upgrade: systemctl restart totpd)", e.Socket, ve)
	}
	return fmt.Sprintf("totpd is not answering on %s: %v (is totpd.socket running? try: systemctl status totpd.socket totpd.service)", e.Socket, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// WrongServerError reports that the process listening on the socket is
// not the one expected (root, for the real totpd): the client sent it
// nothing. It comes wrapped in an *UnavailableError, so callers fail
// closed as for a daemon that is down.
type WrongServerError struct {
	Socket string
	// UID is the uid of the process that listens on Socket (SO_PEERCRED).
	UID uint32
	// Want is the uid the client expected, Client.ServerUID.
	Want int
}

func (e *WrongServerError) Error() string {
	want := "root"
	if e.Want != 0 {
		want = fmt.Sprintf("uid %d", e.Want)
	}
	return fmt.Sprintf("the socket at %s is served by uid %d, not %s: refusing to talk to it. "+
		"This is either a misconfiguration (a --socket, socket= or totpd.socket pointing at the wrong place) "+
		"or an attack (someone else listening there to fake totpd's answers); see who listens there: ss -xlp | grep %s",
		e.Socket, e.UID, want, e.Socket)
}

// IsUnavailable reports whether err means the daemon was not reachable or
// answered nonsense, or in a protocol version this client does not speak
// (then errors.As finds a *wire.VersionError in it).
func IsUnavailable(err error) bool {
	var u *UnavailableError
	return errors.As(err, &u)
}

// Client calls one totpd socket.
type Client struct {
	// Socket is the path of the daemon's Unix socket.
	Socket string
	// Timeout bounds each call as a whole: dial, write and read.
	Timeout time.Duration
	// ServerUID is the uid the process listening on Socket must have
	// (its SO_PEERCRED, checked before anything is sent): 0, root, as
	// totpd runs, unless a test runs its own daemon as another user.
	ServerUID int
}

// New returns a client for socket, as ResolveSocket resolves it for this
// process, that talks only to a server run by root; a zero timeout means
// DefaultTimeout.
func New(socket string, timeout time.Duration) *Client {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{Socket: ResolveSocket(socket, os.Geteuid()), Timeout: timeout}
}

// ResolveSocket reports the socket a caller running with effective uid
// euid talks to: socket itself when given, else $TOTPD_SOCKET when euid
// is not root, else DefaultSocket. Root never takes the socket from its
// environment: whoever prepared that environment (a sudo rule that keeps
// it, a profile) could point it at a daemon of their own that says yes.
func ResolveSocket(socket string, euid int) string {
	if socket == "" && euid != 0 {
		socket = os.Getenv(SocketEnv)
	}
	if socket == "" {
		socket = DefaultSocket
	}
	return socket
}

// Call sends req and reports the daemon's response. A response that
// carries a refusal is returned as a *wire.Error alongside the response;
// transport and protocol failures are an *UnavailableError.
func (c *Client) Call(ctx context.Context, req wire.Request) (*wire.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	conn, err := dial(ctx, c.Socket)
	if err != nil {
		return nil, &UnavailableError{Socket: c.Socket, Err: err}
	}
	defer conn.Close()
	// Nothing, not even the request (it may carry a code), goes to a
	// server that is not the expected one.
	if err := checkServer(conn, c.Socket, c.ServerUID); err != nil {
		return nil, &UnavailableError{Socket: c.Socket, Err: err}
	}
	// The deadline covers the whole exchange, so a daemon that accepts
	// and then hangs cannot hold a login longer than Timeout.
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, &UnavailableError{Socket: c.Socket, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req.Version = wire.Version
	werr := wire.WriteRequest(conn, &req)
	// Even when the write failed, the daemon may have answered first
	// ("busy", or a refusal of an oversized request): read that answer
	// rather than report the daemon as unreachable.
	var resp wire.Response
	body, err := wire.ReadFrame(conn, wire.MaxFrame)
	if err == nil {
		err = wire.DecodeResponse(body, &resp)
	}
	if err != nil {
		var ve *wire.VersionError
		if errors.As(err, &ve) {
			// An answer, but not one this client can read: fail closed.
			return nil, &UnavailableError{Socket: c.Socket, Err: err}
		}
		if werr != nil {
			return nil, &UnavailableError{Socket: c.Socket, Err: fmt.Errorf("sending request: %w", werr)}
		}
		return nil, &UnavailableError{Socket: c.Socket, Err: fmt.Errorf("reading answer: %w", err)}
	}
	if resp.Error != nil {
		if resp.Error.Code == "" || resp.Error.Message == "" {
			return nil, &UnavailableError{Socket: c.Socket, Err: errors.New("answer has an error without code or message")}
		}
		return &resp, resp.Error
	}
	return &resp, nil
}

// checkServer reports an error unless the process that listens at the
// other end of conn runs as uid want, by the kernel's SO_PEERCRED.
func checkServer(conn net.Conn, socket string, want int) error {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return fmt.Errorf("not a Unix socket connection (%T): cannot check who serves it", conn)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return fmt.Errorf("checking who serves the socket: %w", err)
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return fmt.Errorf("checking who serves the socket: %w", err)
	}
	if credErr != nil {
		return fmt.Errorf("checking who serves the socket (SO_PEERCRED): %w", credErr)
	}
	if want < 0 || cred.Uid != uint32(want) {
		return &WrongServerError{Socket: socket, UID: cred.Uid, Want: want}
	}
	return nil
}

// busyDialFor bounds how long dial retries a socket whose queue is full.
// The daemon drains its queue in microseconds, so a full one means a
// flood (a local user connecting in a tight loop); a daemon that is gone
// but left its socket answers the same way, and must not hold a login
// for the whole timeout.
const busyDialFor = time.Second

// dial connects to the Unix socket at path. Linux refuses a connection
// at once (EAGAIN, or ECONNREFUSED) while the listen queue is full
// instead of waiting, so such refusals are retried with a short backoff
// for up to busyDialFor within ctx: a flood of another user's
// connections must not fail a login.
func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	give := time.Now().Add(busyDialFor)
	pause := 2 * time.Millisecond
	for {
		conn, err := d.DialContext(ctx, "unix", path)
		if err == nil || !(errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ECONNREFUSED)) || time.Now().After(give) {
			return conn, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(pause):
		}
		pause = min(2*pause, 50*time.Millisecond)
	}
}
