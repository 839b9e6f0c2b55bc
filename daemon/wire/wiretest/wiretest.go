// Package wiretest is a totpd protocol server for tests, in the manner of
// net/http/httptest: it serves real frames (daemon/wire) on a Unix socket
// of its own, records every request it reads, and stops at the test's
// cleanup. The clients under test (daemon/client, the PAM module,
// totpctl) talk to it exactly as to totpd.
//
// NewServer answers each request with a handler; NewRawServer hands each
// connection to the test as it is, for the faults a real daemon cannot be
// made to show (garbage, hangs, another protocol version). Answer is the
// one-request exchange both use, for a fake server that must run in a
// process of its own (under another uid, say).
package wiretest

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/totpd/totpd/daemon/wire"
)

// Server is a protocol server listening on Socket.
type Server struct {
	// Socket is the path of the listening socket. It is in a directory of
	// its own (mode 0755, so that other uids can reach a socket the test
	// opens to them), removed at Close.
	Socket string

	dir   string
	ln    net.Listener
	serve func(*Conn)

	mu    sync.Mutex
	reqs  []wire.Request
	conns map[net.Conn]struct{}

	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Conn is one connection to the server, for a raw server's function.
type Conn struct {
	net.Conn
	s *Server
}

// RequestTimeout bounds how long NewServer waits for a request and for
// its answer to be read, as totpd's own 5 s do.
const RequestTimeout = 10 * time.Second

// NewServer starts a server that answers every request with handler's
// response (at this protocol version; handler need not set it).
func NewServer(t testing.TB, handler func(wire.Request) wire.Response) *Server {
	t.Helper()
	return NewRawServer(t, func(c *Conn) {
		c.SetDeadline(time.Now().Add(RequestTimeout))
		_, _ = Answer(c, func(req wire.Request) wire.Response {
			c.s.record(req)
			return handler(req)
		})
	})
}

// NewRawServer starts a server that hands each connection to serve, in a
// goroutine of its own, and closes it when serve returns.
func NewRawServer(t testing.TB, serve func(c *Conn)) *Server {
	t.Helper()
	// Not t.TempDir: its path can exceed the 108 bytes of a socket address.
	dir, err := os.MkdirTemp("", "wiretest-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	s := &Server{
		Socket: filepath.Join(dir, "totpd.sock"),
		dir:    dir,
		serve:  serve,
		conns:  make(map[net.Conn]struct{}),
		done:   make(chan struct{}),
	}
	if s.ln, err = net.Listen("unix", s.Socket); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			c.Close()
			return
		default:
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(&Conn{Conn: c, s: s})
		}()
	}
}

// Requests reports the requests read so far, in order.
func (s *Server) Requests() []wire.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wire.Request(nil), s.reqs...)
}

// Close stops listening (the socket file goes: a client then finds no
// daemon there), closes every open connection, waits for the serving
// goroutines and removes the socket's directory. It is called at cleanup;
// calling it earlier is allowed.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		close(s.done)
		s.ln.Close()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		os.RemoveAll(s.dir)
	})
}

// ReadRequest reads one request frame (up to wire.MaxFrame), decodes it
// strictly and records it in the server's Requests.
func (c *Conn) ReadRequest() (wire.Request, error) {
	var req wire.Request
	if err := wire.ReadJSON(c, wire.MaxFrame, &req); err != nil {
		return req, err
	}
	c.s.record(req)
	return req, nil
}

func (s *Server) record(req wire.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	s.mu.Unlock()
}

// Reply writes resp as one frame, at this protocol version.
func (c *Conn) Reply(resp wire.Response) error {
	resp.Version = wire.Version
	return wire.WriteJSON(c, resp)
}

// Hang reads and discards whatever the client sends and never answers,
// until the client hangs up or the server closes.
func (c *Conn) Hang() { _, _ = io.Copy(io.Discard, c) }

// Answer is the server side of one exchange on c: it reads a request
// frame (up to wire.MaxFrame, strictly), writes handler's response at
// this protocol version and reports the request.
func Answer(c net.Conn, handler func(wire.Request) wire.Response) (wire.Request, error) {
	var req wire.Request
	if err := wire.ReadJSON(c, wire.MaxFrame, &req); err != nil {
		return req, err
	}
	resp := handler(req)
	resp.Version = wire.Version
	return req, wire.WriteJSON(c, resp)
}
