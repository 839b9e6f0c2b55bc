package main

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// TestFlowNewerProtocol: a daemon answering in another protocol version,
// with fields this module does not know, fails the login closed
// (PAM_AUTHINFO_UNAVAIL) and the log says it is a version mismatch.
func TestFlowNewerProtocol(t *testing.T) {
	body := []byte(`{"v":2,"action":"allow","assurance":{"level":3}}`)
	raw := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{wire.OpLoginQuery: {raw: append(raw, body...)}}))
	h := &fakeHost{user: "alice"}
	assert.Equal(t, pamAuthinfoUnavail, authenticate(h, opts(d)))
	assert.Empty(t, h.shown)
	require.NotEmpty(t, h.logs)
	assert.Contains(t, strings.Join(h.logs, "\n"), "protocol version 2; this side speaks 1")
}
