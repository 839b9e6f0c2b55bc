// Package server serves the totpd protocol on a Unix socket: one request
// and one answer per connection, each connection bounded in time, the
// number of connections capped, and every caller known by SO_PEERCRED.
package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// Defaults for Server's limits.
const (
	// DefaultMaxConns caps connections in service at once. A login waits
	// on one for a few milliseconds, so this is plenty for a busy host
	// while bounding what idle or hostile clients can hold.
	DefaultMaxConns = 512
	// SlotWait is how long a connection over the cap waits for a slot
	// before it is answered "busy".
	SlotWait = time.Second
	// DefaultReadTimeout bounds how long a client may take to send its request.
	DefaultReadTimeout = 5 * time.Second
	// DefaultWriteTimeout bounds how long a client may take to read the answer.
	DefaultWriteTimeout = 5 * time.Second
	// MaxRequest caps a request frame: requests are small, only answers can be long.
	MaxRequest = 16 << 10
)

// Server answers requests with an Engine.
type Server struct {
	Engine       *engine.Engine
	Peer         PeerFunc // nil: PeerCred
	MaxConns     int
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	Audit        audit.Logger // for connection-level refusals; nil: none

	wg sync.WaitGroup
}

// Serve accepts connections on ln until ctx is done or ln fails, then
// waits for the connections in service to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	peer := s.Peer
	if peer == nil {
		peer = PeerCred
	}
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	slots := make(chan struct{}, maxConns)
	waiters := make(chan struct{}, maxConns)
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	defer s.wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accepting on the socket: %w", err)
		}
		select {
		case slots <- struct{}{}:
		default:
			// At the cap: wait a little for a slot in a goroutine of its
			// own (so the accept loop goes on), since a burst of logins
			// should queue rather than fail; idle clients free their slot
			// within the read timeout. Waiters are capped too: past that,
			// "busy" at once.
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				select {
				case waiters <- struct{}{}:
				default:
					s.reject(c)
					return
				}
				defer func() { <-waiters }()
				select {
				case slots <- struct{}{}:
				case <-time.After(SlotWait):
					s.reject(c)
					return
				case <-ctx.Done():
					c.Close()
					return
				}
				defer func() { <-slots }()
				s.handle(ctx, c, peer)
			}()
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-slots }()
			s.handle(ctx, c, peer)
		}()
	}
}

// reject tells a client over the connection cap to come back later.
// It then reads (and drops) what the client sends until it hangs up or
// the deadline passes: closing at once would make a client that writes
// its request after the answer was sent fail with EPIPE and never read
// "busy".
func (s *Server) reject(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	wire.WriteJSON(c, &wire.Response{Version: wire.Version, Error: &wire.Error{Code: wire.ErrCodeBusy, Message: "totpd is at its connection limit; try again"}})
	io.Copy(io.Discard, io.LimitReader(c, MaxRequest+4))
}

func (s *Server) timeouts() (time.Duration, time.Duration) {
	r, w := s.ReadTimeout, s.WriteTimeout
	if r <= 0 {
		r = DefaultReadTimeout
	}
	if w <= 0 {
		w = DefaultWriteTimeout
	}
	return r, w
}

// handle serves one connection: one request, one answer.
func (s *Server) handle(ctx context.Context, c net.Conn, peer PeerFunc) {
	defer c.Close()
	rt, wt := s.timeouts()
	p, err := peer(c)
	if err != nil {
		fmt.Fprintf(os.Stderr, "totpd: refusing a connection whose peer is unknown: %v\n", err)
		return
	}
	c.SetReadDeadline(time.Now().Add(rt))
	// On shutdown, a client that has not sent its request yet is let go at
	// once, so an idle local user cannot delay a stop by the read timeout.
	// A request already read is still answered: the read deadline no
	// longer matters then.
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
	var req wire.Request
	var resp *wire.Response
	// The frame is read and decoded in two steps so that a client hanging
	// up before sending anything (io.EOF from the frame) is not confused
	// with an empty body (io.EOF from the JSON decoder), which deserves an answer.
	body, err := wire.ReadFrame(c, MaxRequest)
	switch {
	case err != nil:
		if errors.Is(err, io.EOF) {
			return
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return // an idle or slow client: drop it, nothing to say
		}
		resp = errResp(wire.ErrCodeBadRequest, "bad request: "+err.Error())
	case !utf8.Valid(body):
		// encoding/json would turn invalid bytes into U+FFFD: a name
		// with them would be looked up as another name.
		resp = errResp(wire.ErrCodeBadRequest, "bad request: the message is not valid UTF-8")
	default:
		if err := wire.Decode(body, &req); err != nil {
			resp = errResp(wire.ErrCodeBadRequest, "bad request: "+err.Error())
		} else {
			resp = s.dispatch(p, &req)
		}
	}
	c.SetWriteDeadline(time.Now().Add(wt))
	resp.Version = wire.Version
	if err := wire.WriteJSON(c, resp); err != nil {
		fmt.Fprintf(os.Stderr, "totpd: answering uid %d: %v\n", p.UID, err)
	}
}

func errResp(code, msg string) *wire.Response {
	return &wire.Response{Version: wire.Version, Error: &wire.Error{Code: code, Message: msg}}
}

// dispatch checks the version and the caller, then hands the request to the engine.
func (s *Server) dispatch(p Peer, req *wire.Request) *wire.Response {
	if req.Version != wire.Version {
		return errResp(wire.ErrCodeVersion, fmt.Sprintf("protocol version %d is not spoken here (this totpd speaks %d): use a totpctl and pam_totpd.so from the same release as totpd", req.Version, wire.Version))
	}
	e := s.Engine
	caller, name, callerErr := lookupCaller(e, p.UID)
	info := engine.Info{Op: req.Op, Caller: name, Service: req.Service, RHost: req.RHost, TTY: req.TTY}
	user, werr := authorize(e, p, caller, callerErr, req)
	if werr != nil {
		if s.Audit != nil {
			s.Audit.Log(audit.Event{Op: string(req.Op), User: req.User, Caller: info.Caller, Result: "denied", Reason: "not permitted: " + werr.Code, Service: req.Service})
		}
		return &wire.Response{Error: werr}
	}
	switch req.Op {
	case wire.OpLoginQuery:
		return e.LoginQuery(user, info)
	case wire.OpLoginVerify:
		return e.LoginVerify(user, req.Code, info)
	case wire.OpLoginEnrollBegin:
		return e.EnrollBegin(user, info, true)
	case wire.OpLoginEnrollConfirm:
		return e.EnrollConfirm(user, req.Codes, info, true)
	case wire.OpEnrollBegin:
		return e.EnrollBegin(user, info, false)
	case wire.OpEnrollConfirm:
		return e.EnrollConfirm(user, req.Codes, info, false)
	case wire.OpStatus:
		return e.Status(user, info)
	case wire.OpDisable:
		return e.Disable(user, req.Code, info)
	case wire.OpRecoveryCodes:
		return e.RecoveryCodes(user, req.Code, info)
	case wire.OpUsers:
		return e.Users(info)
	case wire.OpUserShow:
		return e.Show(user, info)
	case wire.OpUserEnroll:
		return e.AdminEnroll(user, info)
	case wire.OpUserDisable:
		return e.AdminDisable(user, info)
	case wire.OpUserUnlock:
		return e.Unlock(user, info)
	case wire.OpUserCheck:
		return e.Check(user, req.Code, info)
	case wire.OpUserRequire:
		return e.Require(user, req.Grace, info)
	case wire.OpUserExempt:
		return e.Exempt(user, info)
	}
	return errResp(wire.ErrCodeBadRequest, fmt.Sprintf("unknown operation %q", req.Op))
}
