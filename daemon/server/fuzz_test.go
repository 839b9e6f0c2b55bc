package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// FuzzHandle sends any bytes, from a caller the fuzzer picks (root, a
// user, an admin, a stranger), through the server's request path:
// framing, version, decoding, bounds, authorization, dispatch. It never
// panics and always answers one well-formed frame of this version, or
// hangs up on a frame it could not read.
func FuzzHandle(f *testing.F) {
	frame := func(body string) []byte {
		b := make([]byte, 4+len(body))
		binary.BigEndian.PutUint32(b, uint32(len(body)))
		copy(b[4:], body)
		return b
	}
	for _, s := range []string{
		`{"v":1,"op":"status"}`, `{"v":1,"op":"login.verify","user":"alice","code":"123456"}`,
		`{"v":1,"op":"users"}`, `{"v":1,"op":"user.disable","user":"bob"}`, `{"v":2,"op":"status","new":true}`,
		`{"v":1,"op":"\n2026 login.verify result=ok"}`, `{"v":1,"op":"status","service":"` + string(make([]byte, 300)) + `"}`,
		`{"v":1,"op":"user.check","user":"../etc","code":"1"}`, `not json`, ``, `{"v":1}{"v":1}`,
	} {
		for _, uid := range []uint32{0, 1001, 1003, 4242} {
			f.Add(frame(s), uid)
		}
	}
	e := engine.New(config.Default(), engine.Local(nostore{}), engine.Options{
		Accounts: accounts{"root": 0, "alice": 1001, "bob": 1002, "adm": 1003},
		Audit:    &audit.Recorder{},
		Now:      time.Now,
	})
	s := &Server{Engine: e, ReadTimeout: time.Second, WriteTimeout: time.Second}
	f.Fuzz(func(t *testing.T, data []byte, uid uint32) {
		c := &bufConn{in: bytes.NewReader(data)}
		s.handle(context.Background(), c, Peer{UID: uid}, identify(e, uid))
		require.True(t, c.closed, "the connection must be closed")
		if c.out.Len() == 0 {
			return // a frame it could not read: hung up without a word
		}
		body, err := wire.ReadFrame(&c.out, 0)
		require.NoError(t, err, "the answer must be one frame")
		require.Zero(t, c.out.Len(), "one frame only")
		var resp wire.Response
		require.NoError(t, wire.Decode(body, &resp), "the answer must decode strictly: %q", body)
		require.Equal(t, wire.Version, resp.Version)
	})
}

// bufConn is a connection whose peer sent in and then hung up; what the
// server writes collects in out. It lets the fuzzer drive the request
// path at full speed, without sockets or deadlines.
type bufConn struct {
	in     *bytes.Reader
	out    bytes.Buffer
	closed bool
}

func (c *bufConn) Read(b []byte) (int, error)       { return c.in.Read(b) }
func (c *bufConn) Write(b []byte) (int, error)      { return c.out.Write(b) }
func (c *bufConn) Close() error                     { c.closed = true; return nil }
func (c *bufConn) LocalAddr() net.Addr              { return &net.UnixAddr{Name: "totpd", Net: "unix"} }
func (c *bufConn) RemoteAddr() net.Addr             { return &net.UnixAddr{Net: "unix"} }
func (c *bufConn) SetDeadline(time.Time) error      { return nil }
func (c *bufConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bufConn) SetWriteDeadline(time.Time) error { return nil }
