package audit

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// hostile is what a request could put in an event: a forged audit line
// after a newline, a terminal escape, a NUL, invalid UTF-8 and a Unicode
// line separator.
const hostile = "x\n2025-01-01T00:00:00Z totpd: audit: login.verify user=\"root\" result=ok\r\x1b[2J\x1b]0;owned\x07\x00\xff\u2028"

func TestEventOneEscapedLine(t *testing.T) {
	e := Event{Op: hostile, User: hostile, Caller: hostile, Service: hostile, RHost: hostile, TTY: hostile,
		Result: hostile, Reason: hostile, ClaimedBy: hostile}
	var buf bytes.Buffer
	NewWriter(&buf).Log(e)
	out := buf.String()
	require.Equal(t, 1, strings.Count(out, "\n"), "one line: %q", out)
	require.True(t, strings.HasSuffix(out, "\n"))
	requireNoControl(t, strings.TrimSuffix(out, "\n"))
	require.NotContains(t, out, "\u2028")
	require.True(t, strings.Contains(out, ` totpd: audit: "x\n2025`), "the op is quoted: %q", out)

	for k, v := range e.fields() {
		requireNoControl(t, v)
		require.NotContains(t, v, "\u2028", k)
		require.True(t, strings.HasPrefix(v, `x\n2025`), "%s escaped: %q", k, v)
	}
}

func TestEventPlainValuesUnchanged(t *testing.T) {
	e := Event{Op: "login.verify", User: "alice", Caller: "root", Service: "sshd", RHost: "192.0.2.1", TTY: "ssh",
		Result: "ok", Reason: "login code accepted"}
	require.Equal(t, `login.verify user="alice" result=ok reason="login code accepted" caller="root" service="sshd" rhost="192.0.2.1" tty="ssh"`, e.String())
	require.Equal(t, map[string]string{"TOTPD_OP": "login.verify", "TOTPD_USER": "alice", "TOTPD_CALLER": "root",
		"TOTPD_RESULT": "ok", "TOTPD_REASON": "login code accepted", "TOTPD_SERVICE": "sshd", "TOTPD_RHOST": "192.0.2.1", "TOTPD_TTY": "ssh"}, e.fields())

	e.Caller, e.ClaimedBy = "alice", "uid 1000"
	require.True(t, strings.HasSuffix(e.String(), ` tty="ssh" claimed_by="uid 1000"`), e.String())
	require.Equal(t, "uid 1000", e.fields()["TOTPD_CLAIMED_BY"])
	require.Equal(t, "é/ü", escape("é/ü"), "printable UTF-8 stays as it is")
	require.Equal(t, `a\\nb`, escape(`a\nb`), "a backslash is escaped, so it cannot pass for an escape")
}

// requireNoControl fails unless s is valid UTF-8 with no control byte.
func requireNoControl(t *testing.T, s string) {
	t.Helper()
	require.True(t, utf8.ValidString(s), "invalid UTF-8 in %q", s)
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			require.Failf(t, "a control byte", "byte %#x at %d in %q", s[i], i, s)
		}
	}
}

// An offline decision (fleet mode, etcd not answering) says so on both
// sinks: offline=true after the reason on the stderr line, TOTPD_OFFLINE=1
// in the journal. Without Offline neither appears, and the line and the
// fields are the ones totpd has always written.
func TestEventOffline(t *testing.T) {
	e := Event{Op: "login.verify", User: "alice", Caller: "root", Service: "sshd", RHost: "192.0.2.1", TTY: "ssh",
		Result: "ok", Reason: "login code accepted"}
	plain := `login.verify user="alice" result=ok reason="login code accepted" caller="root" service="sshd" rhost="192.0.2.1" tty="ssh"`
	require.Equal(t, plain, e.String())
	require.NotContains(t, e.fields(), "TOTPD_OFFLINE")

	e.Offline = true
	require.Equal(t, `login.verify user="alice" result=ok reason="login code accepted" offline=true caller="root" service="sshd" rhost="192.0.2.1" tty="ssh"`, e.String())
	f := e.fields()
	require.Equal(t, "1", f["TOTPD_OFFLINE"])
	delete(f, "TOTPD_OFFLINE")
	e.Offline = false
	require.Equal(t, e.fields(), f, "nothing else changes")

	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.Log(Event{Op: "login.verify", User: "bob", Caller: "root", Result: "denied", Reason: "wrong code", Offline: true})
	w.Log(Event{Op: "login.verify", User: "bob", Caller: "root", Result: "denied", Reason: "wrong code"})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	require.Len(t, lines, 2)
	require.True(t, strings.HasSuffix(lines[0], ` totpd: audit: login.verify user="bob" result=denied reason="wrong code" offline=true caller="root"`), lines[0])
	require.True(t, strings.HasSuffix(lines[1], ` totpd: audit: login.verify user="bob" result=denied reason="wrong code" caller="root"`), lines[1])
}
