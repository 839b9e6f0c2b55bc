package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
	"github.com/totpd/totpd/e2e/testutils"
)

// answerWith serves connections on a fresh socket (wiretest): it reads
// the request and writes body as the answer. It reports the socket's path.
func answerWith(t *testing.T, body string) string {
	t.Helper()
	return wiretest.NewRawServer(t, func(c *wiretest.Conn) {
		wire.ReadFrame(c, wire.MaxFrame)
		wire.WriteFrame(c, []byte(body))
	}).Socket
}

// TestCallVersionFirst: an answer of another version, with fields this
// client does not know, is a clear version error that fails closed
// (IsUnavailable: PAM_AUTHINFO_UNAVAIL, totpctl exit 3), not "bad message"
// nor "is totpd.socket running?".
func TestCallVersionFirst(t *testing.T) {
	testutils.RequireRoot(t, "the client talks only to a server run by root")
	sock := answerWith(t, `{"v":2,"action":"allow","assurance":{"level":3}}`)
	resp, err := (&Client{Socket: sock, Timeout: 5 * time.Second}).Call(context.Background(), wire.Request{Op: wire.OpLoginQuery, User: "alice"})
	require.Nil(t, resp, "nothing of an answer it cannot read is passed on")
	require.True(t, IsUnavailable(err), "fails closed: %v", err)
	var ve *wire.VersionError
	require.True(t, errors.As(err, &ve), "a version error: %v", err)
	require.Equal(t, 2, ve.Got)
	require.Contains(t, err.Error(), "answered in another protocol: the message speaks protocol version 2; this side speaks 1")
	require.Contains(t, err.Error(), "from the same release as totpd")
	require.NotContains(t, err.Error(), "unknown field")
	require.NotContains(t, err.Error(), "is totpd.socket running")

	// The same field in an answer of this version is nonsense, as before.
	sock = answerWith(t, `{"v":1,"action":"allow","assurance":{"level":3}}`)
	_, err = (&Client{Socket: sock, Timeout: 5 * time.Second}).Call(context.Background(), wire.Request{Op: wire.OpLoginQuery, User: "alice"})
	require.True(t, IsUnavailable(err))
	require.False(t, errors.As(err, &ve))
	require.Contains(t, err.Error(), "unknown field")
}
