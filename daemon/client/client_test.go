package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
)

// fakeServer listens on a fresh socket as the test's own uid (wiretest),
// answers every request with resp, and reports on got how many bytes each
// connection sent before it closed.
func fakeServer(t *testing.T, resp wire.Response) (socket string, got <-chan int) {
	t.Helper()
	sent := make(chan int, 16)
	s := wiretest.NewRawServer(t, func(c *wiretest.Conn) {
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.ReadRequest(); err != nil {
			n, _ := io.Copy(io.Discard, c)
			sent <- int(n)
			return
		}
		_ = c.Reply(resp)
		sent <- 1 << 20 // a whole request
	})
	return s.Socket, sent
}

func TestCallChecksServerUID(t *testing.T) {
	yes := wire.Response{Action: wire.ActionAllow}
	socket, sent := fakeServer(t, yes)

	// The expected uid: the call goes through.
	c := &Client{Socket: socket, Timeout: 2 * time.Second, ServerUID: os.Getuid()}
	resp, err := c.Call(context.Background(), wire.Request{Op: wire.OpLoginVerify, User: "alice", Code: "123456"})
	require.NoError(t, err)
	require.Equal(t, wire.ActionAllow, resp.Action)
	require.Equal(t, 1<<20, <-sent)

	// Any other uid: refused before the request (and its code) is sent.
	want := os.Getuid() + 1
	c.ServerUID = want
	resp, err = c.Call(context.Background(), wire.Request{Op: wire.OpLoginVerify, User: "alice", Code: "123456"})
	require.Nil(t, resp, "an answer from a server of another uid is never used")
	require.True(t, IsUnavailable(err), "want an UnavailableError (fail closed), got %T %v", err, err)
	var ws *WrongServerError
	require.True(t, errors.As(err, &ws))
	require.Equal(t, uint32(os.Getuid()), ws.UID)
	require.Equal(t, fmt.Sprintf("the socket at %s is served by uid %d, not uid %d: refusing to talk to it. "+
		"This is either a misconfiguration (a --socket, socket= or totpd.socket pointing at the wrong place) "+
		"or an attack (someone else listening there to fake totpd's answers); see who listens there: ss -xlp | grep %s",
		socket, os.Getuid(), want, socket), err.Error())
	require.Equal(t, 0, <-sent, "the client sent bytes to a server of another uid")
	require.NotContains(t, err.Error(), "123456")
}

func TestWrongServerErrorNamesRoot(t *testing.T) {
	err := &UnavailableError{Socket: "/run/totpd/totpd.sock", Err: &WrongServerError{Socket: "/run/totpd/totpd.sock", UID: 1000}}
	require.Contains(t, err.Error(), "the socket at /run/totpd/totpd.sock is served by uid 1000, not root")
	require.Contains(t, err.Error(), "either a misconfiguration")
	require.Contains(t, err.Error(), "or an attack")
}

func TestNewExpectsRoot(t *testing.T) {
	require.Equal(t, 0, New("/x.sock", 0).ServerUID)
	require.Equal(t, DefaultTimeout, New("/x.sock", 0).Timeout)
}

func TestResolveSocket(t *testing.T) {
	t.Setenv(SocketEnv, "/tmp/elsewhere.sock")
	require.Equal(t, "/given.sock", ResolveSocket("/given.sock", 0))
	require.Equal(t, "/given.sock", ResolveSocket("/given.sock", 1000))
	require.Equal(t, "/tmp/elsewhere.sock", ResolveSocket("", 1000), "a user may point totpctl elsewhere")
	require.Equal(t, DefaultSocket, ResolveSocket("", 0), "root ignores $TOTPD_SOCKET")
	t.Setenv(SocketEnv, "")
	require.Equal(t, DefaultSocket, ResolveSocket("", 1000))
}
