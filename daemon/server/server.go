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
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// Defaults for Server's limits.
const (
	// DefaultMaxConns caps connections held at once, in service or
	// waiting. A login holds one for a few milliseconds, so this is plenty
	// for a busy host while bounding what idle or hostile clients can
	// hold; fair.go shares it out by uid.
	DefaultMaxConns = 512
	// SlotWait is how long a root connection over the cap waits for a
	// slot before it is answered "busy".
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
	// Logf receives notices for the administrator (a peer that cannot be
	// identified, an answer that cannot be written), as engine.Options.Logf;
	// nil: the Engine's.
	Logf func(format string, args ...any)

	wg sync.WaitGroup
}

// Serve accepts connections on ln until ctx is done or ln fails, then
// waits for the connections in service to finish. Each connection is
// counted against its peer's uid at accept, before anything is read from
// it (fair.go says how the cap is shared).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	peer := s.Peer
	if peer == nil {
		peer = PeerCred
	}
	maxConns := s.MaxConns
	if maxConns <= 0 {
		maxConns = DefaultMaxConns
	}
	adm := newAdmission(maxConns)
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
		p, err := peer(c)
		if err != nil {
			s.logf("refusing a connection whose peer is unknown: %v", err)
			c.Close()
			continue
		}
		switch {
		case adm.tryAdmit(p.UID):
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serveAdmitted(ctx, c, p, adm)
			}()
		case p.UID != 0:
			// Over its share: "busy" at once, from a bounded number of
			// goroutines; past that the connection is just closed, so a
			// flood costs the daemon nothing but the accept.
			if !adm.linger() {
				c.Close()
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer adm.lingered()
				s.reject(c)
			}()
		default:
			// Root over the whole cap: a burst of logins queues for a
			// moment in a goroutine of its own, so the accept loop goes on.
			if !adm.wait() {
				c.Close() // as many root connections wait as the cap holds
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer adm.waited()
				if !adm.admit(p.UID, SlotWait, ctx.Done()) {
					s.reject(c)
					return
				}
				defer adm.release(p.UID)
				s.handle(ctx, c, p, identify(s.Engine, p.UID))
			}()
		}
	}
}

// serveAdmitted serves a connection admitted against p.UID. A non-root
// uid with no account (the subordinate uids a user may map with
// newuidmap, or what a deleted account left running) is first moved to
// one share that all such uids hold together, so that a user with
// thousands of uids holds no more than one uid does.
func (s *Server) serveAdmitted(ctx context.Context, c net.Conn, p Peer, adm *admission) {
	who := identify(s.Engine, p.UID)
	key := p.UID
	if p.UID != 0 && errors.Is(who.err, engine.ErrNoAccount) {
		if !adm.move(p.UID, noAccount) {
			adm.release(p.UID)
			s.reject(c)
			return
		}
		key = noAccount
	}
	defer adm.release(key)
	s.handle(ctx, c, p, who)
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

// handle serves one connection of peer p, whose account is who: one
// request, one answer.
func (s *Server) handle(ctx context.Context, c net.Conn, p Peer, who caller) {
	defer c.Close()
	who.conn, _ = c.(*net.UnixConn)
	rt, wt := s.timeouts()
	c.SetReadDeadline(time.Now().Add(rt))
	// On shutdown, a client that has not sent its request yet is let go at
	// once, so an idle local user cannot delay a stop by the read timeout.
	// A request already read is still answered: the read deadline no
	// longer matters then.
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Now()) })
	defer stop()
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
		resp = s.answer(p, who, body)
	}
	c.SetWriteDeadline(time.Now().Add(wt))
	resp.Version = wire.Version
	if err := wire.WriteJSON(c, resp); err != nil && !hungUp(err) {
		s.logf("answering uid %d: %v", p.UID, err)
	}
}

// hungUp reports whether err only says the client went away before its
// answer: not worth a log line, and a flood of them must not fill the log.
func hungUp(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

func errResp(code, msg string) *wire.Response {
	return &wire.Response{Version: wire.Version, Error: &wire.Error{Code: code, Message: msg}}
}

// logf writes a notice with Logf, or the Engine's when there is none.
func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
		return
	}
	s.Engine.Logf(format, args...)
}

// dispatch checks the caller, then hands the request (decoded and
// checked by answer) to the engine method the ops table names.
func (s *Server) dispatch(p Peer, who caller, req *wire.Request) *wire.Response {
	info := requestInfo(p, who, req)
	user, werr := authorize(s.Engine, p, who.acct, who.err, req)
	if werr != nil {
		reason := "not permitted: " + werr.Code
		if !knownOp(req.Op) {
			reason = "unknown operation"
		}
		s.audit(info.Event(req.User, "denied", reason))
		return &wire.Response{Error: werr}
	}
	if resp, ok := s.withFile(who.conn, req, info); ok {
		return resp
	}
	return ops[req.Op].handle(s.Engine, user, req, info)
}
