package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/wire"
)

func TestPubKeyID(t *testing.T) {
	require.Empty(t, pubKeyID(""))
	require.Empty(t, pubKeyID("keyboard-interactive\npassword\n"), "no key, no identity")
	a := pubKeyID("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n")
	require.Len(t, a, 64)
	require.Equal(t, a, pubKeyID("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA"), "the trailing newline does not matter")
	require.Equal(t, a, pubKeyID("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\nkeyboard-interactive\n"), "other methods do not matter")
	require.NotEqual(t, a, pubKeyID("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB\n"), "another key")
	require.NotEqual(t, a, pubKeyID("publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\npublickey ssh-rsa AAAAB3\n"), "two keys are another identity")
}

// TestFlowSendsPubKey: the key identity from SSH_AUTH_INFO_0 goes with
// every request of the login; a remembered login's allow lets it in
// without a prompt and shows the daemon's message.
func TestFlowSendsPubKey(t *testing.T) {
	d := newFakeDaemon(t, scripted(map[wire.Op]reply{
		wire.OpLoginQuery: action(wire.ActionAllow, wire.Message{Text: "Remembered login: no code needed until 14:05 UTC (this service, this address and key)."}),
	}))
	h := &fakeHost{user: "alice", env: map[string]string{authInfoEnv: "publickey ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA\n"}}
	require.Equal(t, pamSuccess, authenticate(h, opts(d)))
	require.Empty(t, h.prompts)
	require.Equal(t, []string{"info: Remembered login: no code needed until 14:05 UTC (this service, this address and key)."}, h.shown)
	reqs := d.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, pubKeyID(h.env[authInfoEnv]), reqs[0].PubKey)
}
