package main

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/totpd/totpd/daemon/wire"
)

// reply is what the fake daemon does with one request: answer resp,
// write raw bytes instead, or hang (read the request, never answer).
type reply struct {
	resp *wire.Response
	raw  []byte
	hang bool
}

// fakeDaemon speaks the wire protocol on a Unix socket in a temp dir and
// records every request, so tests can see what the module sent.
type fakeDaemon struct {
	socket string
	ln     net.Listener
	handle func(wire.Request) reply

	mu    sync.Mutex
	reqs  []wire.Request
	conns []net.Conn
	done  chan struct{}
	wg    sync.WaitGroup
}

// newFakeDaemon listens on a fresh socket; a short path, since t.TempDir
// can exceed the 108 bytes of a Unix socket address.
func newFakeDaemon(t *testing.T, handle func(wire.Request) reply) *fakeDaemon {
	t.Helper()
	dir, err := os.MkdirTemp("", "totpd-fake")
	if err != nil {
		t.Fatal(err)
	}
	d := &fakeDaemon{socket: filepath.Join(dir, "totpd.sock"), handle: handle, done: make(chan struct{})}
	d.ln, err = net.Listen("unix", d.socket)
	if err != nil {
		t.Fatal(err)
	}
	d.wg.Add(1)
	go d.serve()
	t.Cleanup(func() {
		close(d.done)
		d.ln.Close()
		d.mu.Lock()
		for _, c := range d.conns {
			c.Close()
		}
		d.mu.Unlock()
		d.wg.Wait()
		os.RemoveAll(dir)
	})
	return d
}

func (d *fakeDaemon) serve() {
	defer d.wg.Done()
	for {
		c, err := d.ln.Accept()
		if err != nil {
			return
		}
		d.mu.Lock()
		d.conns = append(d.conns, c)
		d.mu.Unlock()
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			d.serveConn(c)
		}()
	}
}

func (d *fakeDaemon) serveConn(c net.Conn) {
	defer c.Close()
	var req wire.Request
	if err := wire.ReadJSON(c, wire.MaxFrame, &req); err != nil {
		return
	}
	d.mu.Lock()
	d.reqs = append(d.reqs, req)
	d.mu.Unlock()
	r := d.handle(req)
	switch {
	case r.hang:
		<-d.done
	case r.raw != nil:
		c.Write(r.raw)
	default:
		resp := r.resp
		if resp == nil {
			resp = &wire.Response{Error: &wire.Error{Code: wire.ErrCodeInternal, Message: "fake daemon has no answer"}}
		}
		resp.Version = wire.Version
		if err := wire.WriteJSON(c, resp); err != nil && !errors.Is(err, net.ErrClosed) {
			return
		}
	}
}

// requests reports the requests received so far.
func (d *fakeDaemon) requests() []wire.Request {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]wire.Request(nil), d.reqs...)
}

// scripted answers each op from a table; ops not in it get an internal error.
func scripted(answers map[wire.Op]reply) func(wire.Request) reply {
	return func(req wire.Request) reply { return answers[req.Op] }
}

// promptFor is the usual daemon for an enrolled user whose code is good.
func promptFor(good string, welcome ...wire.Message) func(wire.Request) reply {
	return func(req wire.Request) reply {
		switch req.Op {
		case wire.OpLoginQuery:
			return reply{resp: &wire.Response{Action: wire.ActionPrompt}}
		case wire.OpLoginVerify:
			if req.Code == good {
				return reply{resp: &wire.Response{Messages: welcome}}
			}
			return reply{resp: &wire.Response{Error: &wire.Error{Code: wire.ErrCodeDenied, Message: "Wrong verification code."}}}
		}
		return reply{}
	}
}

func action(a wire.Action, msgs ...wire.Message) reply {
	return reply{resp: &wire.Response{Action: a, Messages: msgs}}
}

func refusal(code, msg string) reply {
	return reply{resp: &wire.Response{Error: &wire.Error{Code: code, Message: msg}}}
}
