package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// newTestServer returns a server over an empty store whose engine and
// connection-level refusals both audit to log.
func newTestServer(log audit.Logger) *Server {
	e := engine.New(config.Default(), engine.Local(nostore{}), engine.Options{
		Accounts: accounts{"root": 0, "alice": 1001, "bob": 1002, "adm": 1003},
		Audit:    log,
		Now:      time.Now,
	})
	return &Server{Engine: e, Audit: log}
}

func body(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestAnswerVersionFirst: a v2 request that adds a field gets the
// version error, not bad_request; v1 with that field is still refused.
func TestAnswerVersionFirst(t *testing.T) {
	s := newTestServer(&audit.Recorder{})
	resp := s.ask(Peer{UID: 0}, []byte(`{"v":2,"op":"login.query","user":"alice","proof":{"kind":"webauthn"}}`))
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodeVersion, resp.Error.Code, resp.Error.Message)
	require.Contains(t, resp.Error.Message, "protocol version 2 is not spoken here (this totpd speaks 1)")

	resp = s.ask(Peer{UID: 0}, []byte(`{"op":"login.query","user":"alice"}`))
	require.Equal(t, wire.ErrCodeVersion, resp.Error.Code, resp.Error.Message)
	require.Contains(t, resp.Error.Message, "no protocol version")

	resp = s.ask(Peer{UID: 0}, []byte(`{"v":1,"op":"login.query","user":"alice","proof":{}}`))
	require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code)
	require.Contains(t, resp.Error.Message, "unknown field")

	resp = s.ask(Peer{UID: 0}, []byte(`{"v":1,"op":"login.query","user":"alice"}`))
	require.Nil(t, resp.Error)
	require.Equal(t, wire.ActionIgnore, resp.Action)
}

// TestAnswerBounds: a free-text field is accepted at 256 bytes and
// refused at 257 and at 5,000 with the field and the limit named, and
// the refused value is not audited.
func TestAnswerBounds(t *testing.T) {
	rec := &audit.Recorder{}
	s := newTestServer(rec)
	req := func(service string) []byte {
		return body(t, wire.Request{Version: wire.Version, Op: wire.OpLoginQuery, User: "alice", Service: service})
	}

	ok := strings.Repeat("s", wire.MaxField)
	resp := s.ask(Peer{UID: 0}, req(ok))
	require.Nil(t, resp.Error, "256 bytes is accepted")
	ev := rec.Snapshot()
	require.Len(t, ev, 1)
	require.Equal(t, ok, ev[0].Service)

	for _, n := range []int{wire.MaxField + 1, 5000} {
		rec.Events = nil
		long := strings.Repeat("s", n)
		resp = s.ask(Peer{UID: 0}, req(long))
		require.NotNil(t, resp.Error, "%d bytes is refused", n)
		require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code)
		require.Contains(t, resp.Error.Message, `"service"`)
		require.Contains(t, resp.Error.Message, "the limit is 256 bytes")
		require.NotContains(t, resp.Error.Message, long)
		ev = rec.Snapshot()
		require.Len(t, ev, 1, "the refusal is audited")
		require.Equal(t, "denied", ev[0].Result)
		require.Equal(t, "bad request: service over 256 bytes", ev[0].Reason)
		require.NotContains(t, ev[0].String(), strings.Repeat("s", 64), "not audited as given")
	}

	// Every other free-text field, and a user name by the engine's rule.
	for field, r := range map[string]wire.Request{
		`"rhost"`:  {RHost: strings.Repeat("h", 5000)},
		`"tty"`:    {TTY: strings.Repeat("t", 5000)},
		`"grace"`:  {Op: wire.OpUserRequire, Grace: strings.Repeat("1", 5000)},
		`"op"`:     {Op: wire.Op(strings.Repeat("o", 5000))},
		"limit is": {User: strings.Repeat("u", 5000)},
	} {
		rec.Events = nil
		r.Version = wire.Version
		if r.Op == "" {
			r.Op = wire.OpLoginQuery
		}
		if r.User == "" {
			r.User = "alice"
		}
		resp = s.ask(Peer{UID: 0}, body(t, r))
		require.NotNil(t, resp.Error, field)
		require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code, field)
		require.Contains(t, resp.Error.Message, field)
		ev = rec.Snapshot()
		require.Len(t, ev, 1, field)
		require.Less(t, len(ev[0].String()), 200, "%s: the value is not audited: %s", field, ev[0])
	}
}

// TestAnswerUnknownOpOneLine: an op that carries a forged audit line and
// terminal escapes makes one audit line, with no raw newline or ESC.
func TestAnswerUnknownOpOneLine(t *testing.T) {
	var buf bytes.Buffer
	s := newTestServer(audit.NewWriter(&buf))
	op := "login.verify\n2025-01-01T00:00:00Z totpd: audit: login.verify user=\"root\" result=ok reason=\"login code accepted\" caller=\"root\"\x1b[2J\x1b]0;owned\x07"
	for _, uid := range []uint32{0, 1001} {
		buf.Reset()
		resp := s.ask(Peer{UID: uid}, body(t, wire.Request{Version: wire.Version, Op: wire.Op(op), User: "alice",
			Service: "sshd\nresult=ok\x1b[31m", RHost: "a\rb", TTY: "pts/0\x00"}))
		require.NotNil(t, resp.Error)
		require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code)
		out := buf.Bytes()
		require.Equal(t, 1, bytes.Count(out, []byte("\n")), "one line: %q", out)
		require.False(t, bytes.ContainsAny(out[:len(out)-1], "\n\r\x1b\x07\x00"), "no raw control bytes: %q", out)
		require.Contains(t, string(out), ` totpd: audit: unknown user="alice" result=denied reason="unknown operation"`)
		require.Contains(t, string(out), `service="sshd\nresult=ok\x1b[31m"`)
	}

	// The engine's own lines are escaped the same way.
	buf.Reset()
	resp := s.ask(Peer{UID: 0}, body(t, wire.Request{Version: wire.Version, Op: wire.OpLoginQuery, User: "alice", RHost: "h\n\x1b[2Jx"}))
	require.Nil(t, resp.Error)
	require.Equal(t, 1, bytes.Count(buf.Bytes(), []byte("\n")), "one line: %q", buf.String())
	require.NotContains(t, buf.String(), "\x1b")
	require.Contains(t, buf.String(), `login.query user="alice" result=ignored`)
}

// TestAnswerClaimedBy: service, rhost and tty a non-root caller sends
// about its own login are marked as its claim; root's are not.
func TestAnswerClaimedBy(t *testing.T) {
	rec := &audit.Recorder{}
	s := newTestServer(rec)
	login := wire.Request{Version: wire.Version, Op: wire.OpLoginQuery, User: "alice", Service: "sshd", RHost: "192.0.2.1", TTY: "ssh"}

	s.ask(Peer{UID: 1001}, body(t, login))
	s.ask(Peer{UID: 0}, body(t, login))
	bob := login
	bob.User = "bob"
	s.ask(Peer{UID: 1001}, body(t, bob)) // refused: alice may not authenticate bob
	status := wire.Request{Version: wire.Version, Op: wire.OpStatus}
	s.ask(Peer{UID: 1001}, body(t, status)) // nothing claimed
	keyOnly := wire.Request{Version: wire.Version, Op: wire.OpLoginQuery, User: "alice", PubKey: "aa11"}
	s.ask(Peer{UID: 1001}, body(t, keyOnly)) // a key identity alone is a claim too

	ev := rec.Snapshot()
	require.Len(t, ev, 5)
	require.Equal(t, "alice", ev[0].Caller)
	require.Equal(t, "192.0.2.1", ev[0].RHost)
	require.Equal(t, "uid 1001", ev[0].ClaimedBy, "alice's own screen locker")
	require.Contains(t, ev[0].String(), `rhost="192.0.2.1" tty="ssh" claimed_by="uid 1001"`)
	require.Equal(t, "root", ev[1].Caller)
	require.Empty(t, ev[1].ClaimedBy, "root's PAM items are taken as said")
	require.Equal(t, "denied", ev[2].Result)
	require.Equal(t, "uid 1001", ev[2].ClaimedBy, "a refused claim is marked too")
	require.Equal(t, "192.0.2.1", ev[2].RHost)
	require.Empty(t, ev[3].ClaimedBy)
	require.Equal(t, "uid 1001", ev[4].ClaimedBy)
}

// ask is answer with the caller looked up as the server does per connection.
func (s *Server) ask(p Peer, body []byte) *wire.Response {
	return s.answer(p, identify(s.Engine, p.UID), body)
}

// TestAnswerRefusalCarriesLogin: a request refused before dispatch (a bad
// name, a field over its bound) is audited with the login's service,
// rhost and tty as the engine's lines are (the one Info.Event), leaving
// out only what is over its bound.
func TestAnswerRefusalCarriesLogin(t *testing.T) {
	rec := &audit.Recorder{}
	s := newTestServer(rec)
	bad := wire.Request{Version: wire.Version, Op: wire.OpLoginQuery, User: "Domain Admins@x", Service: "sshd", RHost: "192.0.2.1", TTY: "ssh"}
	resp := s.ask(Peer{UID: 1001}, body(t, bad))
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code)
	require.Contains(t, resp.Error.Message, "contains a space")

	long := wire.Request{Version: wire.Version, Op: wire.OpLoginVerify, User: "alice", Code: strings.Repeat("1", 5000), Service: "sshd", RHost: "192.0.2.1", TTY: strings.Repeat("t", 5000)}
	resp = s.ask(Peer{UID: 0}, body(t, long))
	require.NotNil(t, resp.Error)

	ev := rec.Snapshot()
	require.Len(t, ev, 2)
	require.Equal(t, audit.Event{Op: "login.query", Caller: "alice", Service: "sshd", RHost: "192.0.2.1", TTY: "ssh", ClaimedBy: "uid 1001",
		Result: "denied", Reason: "bad name"}, ev[0], "the bad name is left out, the login is not")
	require.Equal(t, audit.Event{Op: "login.verify", User: "alice", Caller: "root", Service: "sshd", RHost: "192.0.2.1",
		Result: "denied", Reason: "bad request: code over 256 bytes"}, ev[1], "the over-long tty and code are left out")
}

// TestOpsTable: every operation of the protocol has a class and a
// handler, and dispatch reaches it (root may call every op; none answers
// "unknown operation"); an op outside the table is refused and audited
// as "unknown".
func TestOpsTable(t *testing.T) {
	all := []wire.Op{
		wire.OpLoginQuery, wire.OpLoginVerify, wire.OpLoginEnrollBegin, wire.OpLoginEnrollConfirm,
		wire.OpEnrollBegin, wire.OpEnrollConfirm, wire.OpStatus, wire.OpDisable, wire.OpRecoveryCodes,
		wire.OpUsers, wire.OpUserShow, wire.OpUserEnroll, wire.OpUserDisable, wire.OpUserUnlock,
		wire.OpUserCheck, wire.OpUserRequire, wire.OpUserExempt, wire.OpUserForget,
		wire.OpImport, wire.OpBackup, wire.OpRestore, wire.OpMetrics, wire.OpClusterStatus,
	}
	self := map[wire.Op]bool{wire.OpEnrollBegin: true, wire.OpEnrollConfirm: true, wire.OpStatus: true, wire.OpDisable: true, wire.OpRecoveryCodes: true}
	require.Len(t, ops, len(all), "the table has exactly the protocol's ops")
	rec := &audit.Recorder{}
	s := newTestServer(rec)
	for _, op := range all {
		spec, ok := ops[op]
		require.True(t, ok, "%s is in the table", op)
		require.NotNil(t, spec.handle, op)
		require.True(t, knownOp(op))
		req := wire.Request{Version: wire.Version, Op: op, User: "alice", Code: "123456", Codes: []string{"123456"}}
		if self[op] {
			req.User = "" // about the caller itself
		}
		root := identify(s.Engine, 0)
		_, werr := authorize(s.Engine, Peer{UID: 0}, root.acct, root.err, &req)
		require.Nil(t, werr, "root may call %s", op)
		rec.Events = nil
		resp := s.ask(Peer{UID: 0}, body(t, req))
		if resp.Error != nil {
			require.NotContains(t, resp.Error.Message, "unknown operation", op)
		}
		for _, e := range rec.Snapshot() {
			require.Equal(t, string(op), e.Op, "audited as itself")
		}
	}
	rec.Events = nil
	resp := s.ask(Peer{UID: 0}, body(t, wire.Request{Version: wire.Version, Op: "admin.nonsense", User: "alice"}))
	require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code)
	require.False(t, knownOp("admin.nonsense"))
	ev := rec.Snapshot()
	require.Len(t, ev, 1)
	require.Equal(t, "unknown", ev[0].Op)
	require.Equal(t, "unknown operation", ev[0].Reason)
}

// TestServerLogf: the server's notices go to its Logf, not to os.Stderr.
func TestServerLogf(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	s := newTestServer(&audit.Recorder{})
	s.Logf = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, fmt.Sprintf(format, args...))
	}
	s.Peer = func(net.Conn) (Peer, error) { return Peer{}, errors.New("no credentials") }
	ln, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	c, err := net.Dial("unix", ln.Addr().String())
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "the connection is closed unanswered")
	c.Close()
	cancel()
	require.NoError(t, <-done)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, []string{"refusing a connection whose peer is unknown: no credentials"}, lines)
}
