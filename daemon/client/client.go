// Package client talks to totpd over its Unix socket. The CLI and the
// PAM module both use it, so there is one implementation of a call:
// dial, send one request, read one response, all under one deadline.
package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

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
// transport and protocol failures are an *UnavailableError. The call ends
// by Timeout, or ctx's deadline when that is sooner; a ctx cancelled
// without a deadline is noticed only between the steps of the exchange
// (the socket is read and written with blocking calls, see conn.go).
func (c *Client) Call(ctx context.Context, req wire.Request) (*wire.Response, error) {
	return c.call(ctx, req, nil)
}

// call is Call, passing f after the request when it is not nil (fdpass.go).
func (c *Client) call(ctx context.Context, req wire.Request, f *os.File) (*wire.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	conn, err := dial(ctx, c.Socket, deadline)
	if err != nil {
		return nil, &UnavailableError{Socket: c.Socket, Err: err}
	}
	defer conn.Close()
	// Nothing, not even the request (it may carry a code), goes to a
	// server that is not the expected one.
	if err := checkServer(conn, c.Socket, c.ServerUID); err != nil {
		return nil, &UnavailableError{Socket: c.Socket, Err: err}
	}

	req.Version = wire.Version
	werr := wire.WriteRequest(conn, &req)
	if werr == nil && f != nil {
		werr = conn.sendFile(f)
	}
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
func checkServer(conn *conn, socket string, want int) error {
	uid, err := conn.peerUID()
	if err != nil {
		return err
	}
	if want < 0 || uid != uint32(want) {
		return &WrongServerError{Socket: socket, UID: uid, Want: want}
	}
	return nil
}
