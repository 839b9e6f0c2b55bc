package e2e

import (
	"encoding/binary"
	"errors"
	"github.com/totpd/totpd/daemon/server"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// requireServes checks that d still answers a normal request at once.
func requireServes(t *testing.T, d *daemon, user string) {
	t.Helper()
	d.Alive()
	start := time.Now()
	resp, err := d.Call(wire.Request{Op: wire.OpLoginQuery, User: user, Service: "e2e"})
	require.NoError(t, err, "a normal request")
	require.NotEmpty(t, resp.Action)
	require.Less(t, time.Since(start), 2*time.Second, "a normal request is answered at once")
}

// rawRequest is a request as raw JSON, so names can hold bytes that
// encoding/json would rewrite (invalid UTF-8).
func rawRequest(op wire.Op, user string) []byte {
	var b []byte
	b = append(b, `{"v":1,"op":"`+string(op)+`","user":"`...)
	for i := 0; i < len(user); i++ {
		switch c := user[i]; {
		case c == 0:
			b = append(b, `\u0000`...)
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	b = append(b, `","code":"123456","service":"e2e"}`...)
	return b
}

func TestBadNames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	d.Enroll(u.Name)

	names := map[string]string{
		"slash":        "te2e/../../etc",
		"dotdot":       "..",
		"dot":          ".",
		"hidden":       ".te2e",
		"dash":         "-te2e",
		"NUL":          "root\x00x",
		"NUL only":     "\x00",
		"300 bytes":    strings.Repeat("a", 300),
		"bad UTF-8":    "te2e\xff\xfe",
		"lone UTF-8":   "te2e\xc3",
		"control":      "te2e\x1b[31m",
		"newline":      "root\nte2e",
		"empty":        "",
		"slash prefix": "/root",
	}
	ops := []wire.Op{wire.OpLoginQuery, wire.OpLoginVerify, wire.OpUserShow, wire.OpUserEnroll, wire.OpUserRequire, wire.OpUserUnlock, wire.OpUserDisable}
	for what, name := range names {
		for _, op := range ops {
			resp, err := rawExchange(d.Socket, frame(rawRequest(op, name)), 5*time.Second)
			require.NoError(t, err, "%s with a name %s: the daemon must answer", op, what)
			require.NotNil(t, resp.Error, "%s with a name %s must be refused", op, what)
			require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code, "%s with a name %s: %s", op, what, resp.Error.Message)
			require.NotEmpty(t, resp.Error.Message)
			require.Nil(t, resp.Enrollment)
		}
	}
	// Nothing was created for any of them.
	entries, err := os.ReadDir(filepath.Join(d.StateDir, "users"))
	require.NoError(t, err)
	require.Empty(t, entries, "no snapshot for a bad name")
	var rows []map[string]any
	d.CtlJSON(nil, &rows, "users", "--json")
	require.Len(t, rows, 1, "only the real user has a record: %v", rows)
	require.Equal(t, u.Name, rows[0]["user"])
	_, err = os.Stat("/etc/te2e")
	require.True(t, errors.Is(err, os.ErrNotExist))
	requireServes(t, d, u.Name)
}

func TestBadFrames(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	d.Enroll(u.Name)

	// Announced lengths over the cap: refused at once, nothing allocated.
	for _, n := range []uint32{0x7fffffff, 0xffffffff, wire.MaxFrame + 1, 16<<10 + 1} {
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], n)
		start := time.Now()
		resp, err := rawExchange(d.Socket, hdr[:], 5*time.Second)
		if err == nil {
			require.NotNil(t, resp.Error, "length %#x", n)
			require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code)
		} else {
			var ne net.Error
			require.False(t, errors.As(err, &ne) && ne.Timeout(), "length %#x: the daemon waited instead of refusing", n)
		}
		require.Less(t, time.Since(start), 2*time.Second, "length %#x is refused quickly", n)
		requireServes(t, d, u.Name)
	}

	// Garbage bodies.
	for what, body := range map[string]string{
		"not JSON":      "{not json",
		"empty":         "",
		"array":         "[]",
		"string":        `"login.query"`,
		"unknown field": `{"v":1,"op":"login.query","user":"` + u.Name + `","admin":true}`,
		"trailing data": `{"v":1,"op":"login.query","user":"` + u.Name + `"} {}`,
		"wrong type":    `{"v":"1","op":"login.query","user":"` + u.Name + `"}`,
		"unknown op":    `{"v":1,"op":"login.bypass","user":"` + u.Name + `"}`,
		"no op":         `{"v":1,"user":"` + u.Name + `"}`,
		"binary":        "\x00\x01\x02\xff",
	} {
		resp, err := rawExchange(d.Socket, frame([]byte(body)), 5*time.Second)
		require.NoError(t, err, "%s: the daemon must answer", what)
		require.NotNil(t, resp.Error, "%s must be refused", what)
		require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code, "%s: %s", what, resp.Error.Message)
		require.Equal(t, wire.Version, resp.Version)
	}
	resp, err := rawExchange(d.Socket, frame([]byte(`{"v":2,"op":"login.query","user":"`+u.Name+`"}`)), 5*time.Second)
	require.NoError(t, err)
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodeVersion, resp.Error.Code)

	// A header cut short, then the client goes away.
	c, err := net.Dial("unix", d.Socket)
	require.NoError(t, err)
	_, err = c.Write([]byte{0, 0})
	require.NoError(t, err)
	c.Close()
	requireServes(t, d, u.Name)
}

// TestLyingLength holds a connection that announced more than it sends:
// the daemon serves others meanwhile and drops it after its read timeout.
func TestLyingLength(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	d.Enroll(u.Name)

	c, err := net.Dial("unix", d.Socket)
	require.NoError(t, err)
	defer c.Close()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], 1000)
	start := time.Now()
	_, err = c.Write(append(hdr[:], `{"v":1,"op"`...))
	require.NoError(t, err)

	requireServes(t, d, u.Name)

	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, err = io.ReadAll(c)
	held := time.Since(start)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "the daemon never dropped the connection")
	require.GreaterOrEqual(t, held, 3*time.Second, "dropped before the read timeout")
	require.Less(t, held, 15*time.Second, "dropped after the read timeout")
	requireServes(t, d, u.Name)
}

// TestIdleClients opens more idle connections than the daemon serves at
// once: the extra ones are told busy, a real request gets through within
// a deadline, and the daemon keeps running.
func TestIdleClients(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	d.Enroll(u.Name)

	n := server.DefaultMaxConns + 100
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.Dial("unix", d.Socket)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	start := time.Now()

	// Those over the cap hear "busy" after waiting server.SlotWait for a
	// slot; the others hear nothing.
	var busy, dropped int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.SetReadDeadline(time.Now().Add(server.SlotWait + 2*time.Second))
			var resp wire.Response
			err := wire.ReadJSON(c, wire.MaxFrame, &resp)
			mu.Lock()
			defer mu.Unlock()
			if err == nil && resp.Error != nil && resp.Error.Code == wire.ErrCodeBusy {
				busy++
			} else if err != nil && !isTimeout(err) {
				dropped++
			}
		}()
	}
	wg.Wait()
	require.Positive(t, busy, "with %d idle connections some must be told busy", n)
	require.GreaterOrEqual(t, busy+dropped, n-server.DefaultMaxConns, "more than %d idle connections were held (busy %d, dropped %d)", server.DefaultMaxConns, busy, dropped)

	// A real request gets through within a deadline (when the idle
	// connections time out, if not at once).
	var resp *wire.Response
	var err error
	testutils.WaitFor(t, 20*time.Second, "a real request to get through", func() bool {
		resp, err = d.Call(wire.Request{Op: wire.OpLoginQuery, User: u.Name, Service: "e2e"})
		if err != nil {
			require.Equal(t, wire.ErrCodeBusy, errCode(err), "while full, the daemon says busy: %v", err)
			return false
		}
		return true
	})
	require.Equal(t, wire.ActionPrompt, resp.Action)
	t.Logf("a real request got through %v after %d idle connections", time.Since(start).Round(time.Millisecond), n)
	requireServes(t, d, u.Name)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestMalformedCodes sends codes of the wrong shape: each is refused with
// a message and none is ever accepted, even around the right code.
func TestMalformedCodes(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{MaxFailures: 1000})
	u := newUser(t)
	e := d.Enroll(u.Name)

	step := stableStep(t, 5*time.Second)
	good := codeForStep(t, e.Secret, step)
	bad := []string{
		"", "1", "12345", "1234567", "12345678", strings.Repeat("1", 256),
		"12a456", "abcdef", "12345.", "+12345", "-12345", "1e5000",
		" " + good, good + " ", good + "\n", "\t" + good, good[:3] + " " + good[3:],
		good + "\x00", "\x00" + good[1:], "１２３４５６", "١٢٣٤٥٦",
		good[:3] + "-" + good[3:], "0x" + good[2:],
	}
	for _, code := range bad {
		resp, err := d.Verify(u.Name, code)
		require.Error(t, err, "code %q must be refused", code)
		require.Equal(t, wire.ErrCodeDenied, errCode(err), "code %q", code)
		require.NotEmpty(t, err.Error(), "code %q: refusal without a message", code)
		require.NotContains(t, err.Error(), good, "the refusal must not repeat a code")
		require.False(t, resp.Locked)
	}
	require.Equal(t, len(bad), d.Show(u.Name).Failures, "every malformed code counts as a failure")

	// Over the bound of every free-text field, a code is a bad request:
	// refused (the module answers PAM_AUTH_ERR) before it is looked at,
	// so not counted, and it can never be right anyway.
	_, err := d.Verify(u.Name, strings.Repeat("1", 1000))
	require.Equal(t, wire.ErrCodeBadRequest, errCode(err))
	require.Contains(t, err.Error(), `"code" is 1000 bytes long; the limit is 256`)
	_, err = d.Verify(u.Name, good)
	require.NoError(t, err, "the right code, sent as is, after all that")
	requireServes(t, d, u.Name)
}
