package server

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// TestAdmissionShares is the sharing rule of fair.go as a table of steps.
func TestAdmissionShares(t *testing.T) {
	a := newAdmission(16) // reserve 8 for root, others' pool 8, share min(8, 8)
	a.share = 3           // a smaller share keeps the table short

	for i := 0; i < 3; i++ {
		require.True(t, a.tryAdmit(1000), "uid 1000 connection %d within its share", i)
	}
	require.False(t, a.tryAdmit(1000), "uid 1000 over its share")
	require.Equal(t, 3, a.holding(1000))
	for i := 0; i < 3; i++ {
		require.True(t, a.tryAdmit(1001))
	}
	require.True(t, a.tryAdmit(1002))
	require.True(t, a.tryAdmit(1002))
	require.False(t, a.tryAdmit(1003), "the others' pool (8) is full")
	for i := 0; i < 8; i++ {
		require.True(t, a.tryAdmit(0), "root connection %d in its reserve", i)
	}
	require.False(t, a.tryAdmit(0), "root over the whole cap")
	a.release(1000)
	require.True(t, a.tryAdmit(0), "root may use a slot the others freed")
	require.False(t, a.tryAdmit(1003), "the whole cap is in use")
	a.release(0)
	require.True(t, a.tryAdmit(1003), "a freed slot goes back to the others' pool")
	require.Equal(t, 2, a.holding(1000))

	// Root waits for a slot; a non-root uid never does.
	done := make(chan bool)
	go func() { done <- a.admit(0, time.Minute, nil) }()
	a.release(1001)
	require.True(t, <-done, "root admitted once a connection ended")
	stop := make(chan struct{})
	close(stop)
	require.False(t, a.admit(0, time.Minute, stop), "a stopping server admits no more")
	require.False(t, a.admit(1001, time.Minute, nil), "non-root over the pool: refused at once")
}

// uidConn is a connection whose peer uid the test decides.
type uidConn struct {
	net.Conn
	uid uint32
}

// uidListener hands out connections with the uid of uidOf(n) for the
// n-th accepted one, so one process can play many callers.
type uidListener struct {
	net.Listener
	n     atomic.Int64
	uidOf func(n int64) uint32
}

func (l *uidListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return uidConn{c, l.uidOf(l.n.Add(1))}, nil
}

func uidPeer(c net.Conn) (Peer, error) { return Peer{UID: c.(uidConn).uid}, nil }

// serve runs a Server with a real engine (no store) on a Unix socket of a
// temporary directory; uidOf assigns each accepted connection its uid.
func serve(t *testing.T, readTimeout time.Duration, uidOf func(int64) uint32) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	e := engine.New(config.Default(), engine.Local(nostore{}), engine.Options{
		Accounts: accounts{"root": 0, "alice": 1001, "mallory": 1000},
		Audit:    &audit.Recorder{},
		Now:      time.Now,
	})
	s := &Server{Engine: e, Peer: uidPeer, ReadTimeout: readTimeout}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, &uidListener{Listener: ln, uidOf: uidOf}) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return sock
}

// call sends one request on a new connection and reports the answer.
func call(t *testing.T, sock string, req wire.Request) *wire.Response {
	t.Helper()
	c, err := net.Dial("unix", sock)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	req.Version = wire.Version
	require.NoError(t, wire.WriteJSON(c, &req))
	var resp wire.Response
	require.NoError(t, wire.ReadJSON(c, 0, &resp))
	return &resp
}

// floodAndServe opens n connections to sock (closed at cleanup), then
// checks that root (the connection after them) and alice (the next) are
// served meanwhile. The accept loop takes connections in order, so once
// root's is answered every one of the n has been admitted or refused.
func floodAndServe(t *testing.T, sock string, n int, while string) []net.Conn {
	t.Helper()
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		c, err := net.Dial("unix", sock)
		require.NoError(t, err)
		held = append(held, c)
	}
	resp := call(t, sock, wire.Request{Op: wire.OpUsers})
	require.Nil(t, resp.Error, "root's admin call while %s: %+v", while, resp.Error)
	resp = call(t, sock, wire.Request{Op: wire.OpStatus, User: "alice"})
	require.Nil(t, resp.Error, "alice's status while %s: %+v", while, resp.Error)
	return held
}

// TestServeFairness: one uid holding hundreds of idle connections gets
// "busy" past its share, while root and another user are served.
func TestServeFairness(t *testing.T) {
	const flood = 400
	// Connections 1..400 are mallory's (uid 1000), 401 root's, 402 alice's.
	sock := serve(t, time.Minute, func(n int64) uint32 {
		switch n {
		case flood + 1:
			return 0
		case flood + 2:
			return 1001
		}
		return 1000
	})
	held := floodAndServe(t, sock, flood, "mallory holds her share")

	// Now mallory uses all of hers: exactly her share is served.
	served, refused := 0, 0
	for _, c := range held {
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		_ = wire.WriteJSON(c, &wire.Request{Version: wire.Version, Op: wire.OpStatus, User: "mallory"})
		var resp wire.Response
		err := wire.ReadJSON(c, 0, &resp)
		switch {
		case err != nil: // closed at once: refused without a word
			refused++
		case resp.Error != nil && resp.Error.Code == wire.ErrCodeBusy:
			refused++
		default:
			served++
		}
	}
	require.Equal(t, DefaultUIDShare, served, "mallory's connections served (her share)")
	require.Equal(t, flood-DefaultUIDShare, refused, "mallory's connections refused")
}

// TestServeNoLeaks: after 10,000 connections, hostile ones included
// (busy, idle until the timeout, hang-ups mid-frame, bad frames), the
// server's goroutines and open files are back to where they were.
func TestServeNoLeaks(t *testing.T) {
	fds := func() int {
		d, err := os.ReadDir("/proc/self/fd")
		require.NoError(t, err)
		return len(d)
	}
	sock := serve(t, 2*time.Second, func(n int64) uint32 {
		if n%3 == 0 {
			return 0
		}
		return 1000 + uint32(n%5)
	})
	// Let the server settle, then take the baseline.
	call(t, sock, wire.Request{Op: wire.OpUsers})
	baseG, baseF := runtime.NumGoroutine(), fds()

	const total = 10000
	var wg sync.WaitGroup
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := net.Dial("unix", sock)
				if err != nil {
					t.Errorf("dial %d: %v", i, err)
					return
				}
				switch i % 5 {
				case 0: // a request, read the answer
					body := []byte(`{"v":1,"op":"users"}`)
					_ = wire.WriteFrame(c, body)
					_, _ = wire.ReadFrame(c, 0)
				case 1: // hang up at once
				case 2: // half a header, then hang up
					_, _ = c.Write([]byte{0, 0})
				case 3: // a lying length, then hang up mid-body
					_, _ = c.Write([]byte{0, 0, 1, 0, '{'})
				case 4: // garbage
					_ = wire.WriteFrame(c, []byte("not json"))
					_, _ = wire.ReadFrame(c, 0)
				}
				c.Close()
			}
		}()
	}
	for i := 0; i < total; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	// A few idle ones that the read timeout must drop.
	for i := 0; i < 20; i++ {
		c, err := net.Dial("unix", sock)
		require.NoError(t, err)
		defer c.Close()
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), fds()
		if g <= baseG && f <= baseF+20 { // the 20 idle ones are still ours
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("after %d connections: %d goroutines (baseline %d), %d fds (baseline %d + 20 of the test)\n%s", total, g, baseG, f, baseF, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestServeNoAccountUIDsShareOneShare: uids with no account (the
// subordinate uids a user can map with newuidmap) hold one share
// together: 100 of them with 8 connections each get DefaultUIDShare
// served in all, and root and alice are still served.
func TestServeNoAccountUIDsShareOneShare(t *testing.T) {
	const uids, each = 100, 8
	const flood = uids * each
	sock := serve(t, time.Minute, func(n int64) uint32 {
		switch n {
		case flood + 1:
			return 0
		case flood + 2:
			return 1001
		}
		return 100000 + uint32(n%uids) // no account in the test's passwd
	})
	held := floodAndServe(t, sock, flood, "100 account-less uids flood")

	// Every connection past the one share is refused (busy, or closed);
	// the ones held wait for their request. Wait until all refusals are
	// in, then the rest must be exactly one share, and served.
	var refused atomic.Int64
	var gone sync.Map // the refused connections
	open := make(chan net.Conn, flood)
	for _, c := range held {
		go func() {
			var resp wire.Response
			if err := wire.ReadJSON(c, 0, &resp); err != nil || resp.Error != nil && resp.Error.Code == wire.ErrCodeBusy {
				gone.Store(c, true)
				refused.Add(1)
				return
			}
			open <- c // answered without a request: cannot happen
		}()
	}
	deadline := time.Now().Add(30 * time.Second)
	for refused.Load() < flood-DefaultUIDShare {
		require.True(t, time.Now().Before(deadline), "only %d of %d connections refused: more than one share is held", refused.Load(), flood)
		time.Sleep(10 * time.Millisecond)
	}
	require.Empty(t, open)
	served := 0
	for _, c := range held {
		if _, ok := gone.Load(c); ok {
			continue
		}
		// A held one: its request is answered (a refusal: no account).
		require.NoError(t, wire.WriteJSON(c, &wire.Request{Version: wire.Version, Op: wire.OpStatus}))
		served++
	}
	require.Equal(t, DefaultUIDShare, served, "connections of all the account-less uids served together")
}
