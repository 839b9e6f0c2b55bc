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
	"time"

	"github.com/totpd/totpd/daemon/wire"
)

// DefaultSocket is where totpd.socket listens.
const DefaultSocket = "/run/totpd/totpd.sock"

// SocketEnv names the environment variable that overrides DefaultSocket for totpctl.
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
	return fmt.Sprintf("totpd is not answering on %s: %v (is totpd.socket running? try: systemctl status totpd.socket totpd.service)", e.Socket, e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// IsUnavailable reports whether err means the daemon was not reachable or answered nonsense.
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
}

// New reports a client for socket; an empty socket means $TOTPD_SOCKET
// or DefaultSocket, and a zero timeout DefaultTimeout.
func New(socket string, timeout time.Duration) *Client {
	if socket == "" {
		socket = os.Getenv(SocketEnv)
	}
	if socket == "" {
		socket = DefaultSocket
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{Socket: socket, Timeout: timeout}
}

// Call sends req and reports the daemon's response. A response that
// carries a refusal is returned as a *wire.Error alongside the response;
// transport and protocol failures are an *UnavailableError.
func (c *Client) Call(ctx context.Context, req wire.Request) (*wire.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Socket)
	if err != nil {
		return nil, &UnavailableError{Socket: c.Socket, Err: err}
	}
	defer conn.Close()
	// The deadline covers the whole exchange, so a daemon that accepts
	// and then hangs cannot hold a login longer than Timeout.
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, &UnavailableError{Socket: c.Socket, Err: err}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	req.Version = wire.Version
	werr := wire.WriteJSON(conn, req)
	// Even when the write failed, the daemon may have answered first
	// ("busy", or a refusal of an oversized request): read that answer
	// rather than report the daemon as unreachable.
	var resp wire.Response
	if err := wire.ReadJSON(conn, wire.MaxFrame, &resp); err != nil {
		if werr != nil {
			return nil, &UnavailableError{Socket: c.Socket, Err: fmt.Errorf("sending request: %w", werr)}
		}
		return nil, &UnavailableError{Socket: c.Socket, Err: fmt.Errorf("reading answer: %w", err)}
	}
	if resp.Version != wire.Version {
		return nil, &UnavailableError{Socket: c.Socket, Err: fmt.Errorf("answer speaks protocol version %d, want %d", resp.Version, wire.Version)}
	}
	if resp.Error != nil {
		if resp.Error.Code == "" || resp.Error.Message == "" {
			return nil, &UnavailableError{Socket: c.Socket, Err: errors.New("answer has an error without code or message")}
		}
		return &resp, resp.Error
	}
	return &resp, nil
}
