package wiretest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
)

func TestServerAnswersAndRecords(t *testing.T) {
	s := NewServer(t, func(req wire.Request) wire.Response {
		return wire.Response{Status: &wire.Status{User: req.User}}
	})
	c := &client.Client{Socket: s.Socket, Timeout: 5 * time.Second, ServerUID: os.Getuid()}
	resp, err := c.Call(context.Background(), wire.Request{Op: wire.OpUserShow, User: "alice"})
	require.NoError(t, err)
	require.Equal(t, "alice", resp.Status.User)
	reqs := s.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, wire.OpUserShow, reqs[0].Op)

	s.Close()
	_, err = os.Stat(s.Socket)
	require.True(t, os.IsNotExist(err), "the socket is gone after Close: %v", err)
	_, err = c.Call(context.Background(), wire.Request{Op: wire.OpStatus})
	require.True(t, client.IsUnavailable(err), "%v", err)
}

func TestRawServerHangEndsAtClose(t *testing.T) {
	s := NewRawServer(t, (*Conn).Hang)
	c := &client.Client{Socket: s.Socket, Timeout: 300 * time.Millisecond, ServerUID: os.Getuid()}
	_, err := c.Call(context.Background(), wire.Request{Op: wire.OpStatus})
	require.True(t, client.IsUnavailable(err), "a hung server times the call out: %v", err)
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end a hanging connection")
	}
}
