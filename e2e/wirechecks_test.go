package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/hostkit"
)

// TestWireVersionFirst: a request of another version that adds a field
// this version does not know gets the version error from a real daemon,
// not bad_request (ARCHITECTURE.md, "The wire format" and "Faults").
func TestWireVersionFirst(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t) // not enrolled: the tests need no totpctl

	v2 := `{"v":2,"op":"login.query","user":"` + u.Name + `","service":"e2e","proof":{"kind":"webauthn","data":"AAAA"}}`
	resp, err := rawExchange(d.Socket, frame([]byte(v2)), 5*time.Second)
	require.NoError(t, err, "the daemon must answer")
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodeVersion, resp.Error.Code, resp.Error.Message)
	require.Contains(t, resp.Error.Message, "protocol version 2")
	require.Equal(t, wire.Version, resp.Version)

	// The same field in a request of this version is still refused.
	v1 := strings.Replace(v2, `"v":2`, `"v":1`, 1)
	resp, err = rawExchange(d.Socket, frame([]byte(v1)), 5*time.Second)
	require.NoError(t, err)
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code, resp.Error.Message)
	require.Contains(t, resp.Error.Message, "unknown field")
	requireServes(t, d, u.Name)
}

// TestWireFieldBounds: free-text fields are bounded at 256 bytes with an
// error that names the field, and a refused value is not audited.
func TestWireFieldBounds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t) // not enrolled: the tests need no totpctl

	long := strings.Repeat("S", 5000)
	_, err := d.Call(wire.Request{Op: wire.OpLoginQuery, User: u.Name, Service: long})
	require.Equal(t, wire.ErrCodeBadRequest, errCode(err), "%v", err)
	require.Contains(t, err.Error(), `"service" is 5000 bytes long; the limit is 256 bytes`)

	_, err = d.Call(wire.Request{Op: wire.OpLoginQuery, User: u.Name, RHost: strings.Repeat("h", 257)})
	require.Equal(t, wire.ErrCodeBadRequest, errCode(err))
	require.Contains(t, err.Error(), `"rhost" is 257 bytes long`)

	at := strings.Repeat("T", 256)
	resp, err := d.Call(wire.Request{Op: wire.OpLoginQuery, User: u.Name, TTY: at})
	require.NoError(t, err, "256 bytes is within the bound")
	require.Equal(t, wire.ActionIgnore, resp.Action)

	if !journalPresent() {
		d.WaitLog(`tty="`+at+`"`, 5*time.Second)
		logs := d.Stderr()
		require.NotContains(t, logs, strings.Repeat("S", 257), "the 5,000-byte service is not audited")
		require.Contains(t, logs, `login.query user="`+u.Name+`" result=denied reason="bad request: service over 256 bytes" caller="root"`)
		require.Contains(t, logs, `tty="`+at+`"`)
	}
}

// TestWireAuditNoForgery: an unknown op carrying a forged audit line and
// terminal escapes leaves one escaped line in the daemon's log, and what
// a non-root caller says about its own login is marked as its claim.
func TestWireAuditNoForgery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := newDaemon(t, b, config{})
	if journalPresent() {
		// The audit would go to the journal; this test reads the lines
		// the daemon writes when there is none, so it hides the journal's
		// socket from the daemon (an empty directory over it).
		wrap, err := hostkit.Private{Binds: []hostkit.Bind{{Src: publicDir(t), Dst: "/run/systemd/journal"}}}.Argv()
		require.NoError(t, err)
		d.Wrap = wrap
	}
	d.Start()
	u := newUser(t) // not enrolled: the tests need no totpctl

	forged := `2025-01-01T00:00:00Z totpd: audit: login.verify user=\"root\" result=ok reason=\"login code accepted\" caller=\"root\"`
	req := `{"v":1,"op":"login.verify\n` + forged + `\u001b[2J\u001b]0;owned\u0007","user":"` + u.Name + `","service":"sshd\nresult=ok\u001b[31m"}`
	resp, err := rawExchange(d.Socket, frame([]byte(req)), 5*time.Second)
	require.NoError(t, err)
	require.NotNil(t, resp.Error)
	require.Equal(t, wire.ErrCodeBadRequest, resp.Error.Code)

	_, err = d.CallAs(u, wire.Request{Op: wire.OpLoginQuery, User: u.Name, Service: "xscreensaver", RHost: "192.0.2.7", TTY: ":0"})
	require.NoError(t, err, "a screen locker asks about its own user")
	requireServes(t, d, u.Name)

	claimed := fmt.Sprintf(`login.query user=%q result=ignored reason="not enrolled, not required" caller=%q service="xscreensaver" rhost="192.0.2.7" tty=":0" claimed_by="uid %d"`, u.Name, u.Name, u.UID)
	d.WaitLog(claimed, 5*time.Second)
	logs := d.Stderr()
	require.NotContains(t, logs, "\x1b", "no raw escape reaches the log")
	require.NotContains(t, logs, "\x07")
	var audits []string
	for _, l := range strings.Split(logs, "\n") {
		require.False(t, strings.HasPrefix(l, "2025-01-01T00:00:00Z"), "a forged line: %q", l)
		if strings.Contains(l, " totpd: audit: unknown ") {
			audits = append(audits, l)
		}
	}
	require.Len(t, audits, 1, "one line for the unknown op:\n%s", logs)
	require.Contains(t, audits[0], `result=denied reason="unknown operation" caller="root" service="sshd\nresult=ok\x1b[31m"`)
}
