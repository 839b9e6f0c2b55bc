package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// loginResponses are the shapes the daemon sends a login.
var loginResponses = []Response{
	{Version: Version, Action: ActionPrompt},
	{Version: Version, Action: ActionPrompt, Digits: 6},
	{Version: Version, Action: ActionPrompt, Digits: 8, Messages: []Message{{Text: "hello"}}},
	{Version: Version, Action: ActionIgnore},
	{Version: Version},
	{Version: Version, Action: ActionAllow, Messages: []Message{{Text: "A verification code will be required for alice from Mon 2 Jan 2006 15:04 UTC. Set it up now: run `totpctl enroll` after you log in."}}},
	{Version: Version, Action: ActionDeny, Locked: true, Messages: []Message{{Error: true, Text: "Locked <until> 12:00 & \"later\"\n\ttry again"}}},
	{Version: Version, Error: &Error{Code: ErrCodeDenied, Message: "Wrong verification code."}},
	{Version: Version, Messages: []Message{{Text: "Recovery code used; 9 left."}}},
	{Version: Version, Enrollment: &Enrollment{User: "alice", Secret: "JBSWY3DPEHPK3PXP", URI: "otpauth://totp/vm:alice?secret=JBSWY3DPEHPK3PXP&issuer=vm", ConfirmCodes: 2,
		Text: "█▀▀▀▀▀█ ▄▀▄ █▀▀▀▀▀█\n█ ███ █ ▀▄█ █ ███ █\u2028é"}},
	{Version: Version, Enrollment: &Enrollment{User: "alice", RecoveryCodes: []string{"hxfli-oq3wi", "mvvi7-x2c3w"}, Text: "Recovery codes:\n  hxfli-oq3wi"}},
}

// TestDecodeResponseFast: every shape a login gets is decoded without
// encoding/json, and to what encoding/json makes of it.
func TestDecodeResponseFast(t *testing.T) {
	for _, want := range loginResponses {
		body, err := json.Marshal(want)
		require.NoError(t, err)
		var got Response
		d := fastDecoder{b: body}
		require.True(t, d.response(&got), "the fast path left %s to encoding/json", body)
		require.Equal(t, want, got)
		var viaJSON Response
		require.NoError(t, DecodeMessage(body, &viaJSON))
		require.Equal(t, viaJSON, got)
	}
}

// TestDecodeResponseFallsBack: what the fast path does not read still
// decodes, or fails, exactly as DecodeMessage says.
func TestDecodeResponseFallsBack(t *testing.T) {
	for _, body := range []string{
		`{"v":2,"action":"prompt","new":1}`, // another version: a *VersionError
		`{"action":"prompt"}`,               // no version
		`{"v":1,"status":{"user":"alice","enrolled":true,"required":false,"deadline":null,"locked":false,"locked_until":null,"failures":0,"last_success":null,"recovery_codes_left":3,"pending_enrollment":false,"server_time":"2026-12-02T00:00:00Z","drift_steps":0}}`,
		`{"v":1,"cluster":{"backend":"etcd","online":false,"pending":3,"endpoints":["https://etcd1:2379"],"offline":"local","since":"2026-12-02T15:40:00Z","last_error":"etcd did not answer within 2s"}}`,
		`{"v":1,"error":null}`,
		`{"v":1,"Action":"prompt"}`, // encoding/json matches names without case
		`{"v":1,"action":"prompt","action":"deny"}`,
		`{"v":1,"action":"prompt","digits":-6}`,  // no sign in the fast path
		`{"v":1,"action":"prompt","digits":"6"}`, // a string: encoding/json refuses it
		`{"v":1,"action":"prompt","digits":6,"digits":8}`,
		`{"v":1,"digits":6e0}`,
		`{"v":1,"messages":[{"text":"\ud83d\ude00"}]}`,
		`{"v":1,"nosuch":true}`,
		`{"v":1} {}`,
		`{"v":1.0}`,
		"{\"v\":1,\"action\":\"\xff\"}",
		`[1]`, ``, `{`,
	} {
		var fast, slow Response
		ferr := DecodeResponse([]byte(body), &fast)
		serr := DecodeMessage([]byte(body), &slow)
		require.Equal(t, serr, ferr, body)
		require.Equal(t, slow, fast, body)
	}
}

// FuzzDecodeResponse: whatever the fast path decodes, encoding/json
// decodes too, to the same Response.
func FuzzDecodeResponse(f *testing.F) {
	for _, r := range loginResponses {
		b, _ := json.Marshal(r)
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"messages":[{"text":"a\u0000b\/c"}],"locked":true}`))
	f.Add([]byte(`{"v":1,"action":"prompt","digits":8}`))
	f.Add([]byte(` { "v" : 1 , "enrollment" : { "confirm_codes" : 0 , "recovery_codes" : [ ] } } `))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast Response
		d := fastDecoder{b: body}
		if !d.response(&fast) {
			return
		}
		var slow Response
		require.NoError(t, DecodeMessage(body, &slow), "the fast path decoded what encoding/json refuses: %q", body)
		require.Equal(t, slow, fast, "%q", body)
	})
}

// FuzzAppendRequest: AppendRequest writes what json.Marshal writes.
func FuzzAppendRequest(f *testing.F) {
	f.Add(1, "login.verify", "alice", "123456", "", "sshd", "192.0.2.1", "ssh", "", "", "")
	f.Add(1, "login.query", "alice", "", "", "sshd", "192.0.2.1", "ssh", "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "", "")
	f.Add(1, "login.query", "alice", "", "", "openvpn", "192.0.2.1", "", "", "forward_pass", "")
	f.Add(1, "admin.require", "bob", "", "111111\x00222222", "", "", "", "", "", "7d")
	f.Add(0, "", "", "", "", "<&>\u2028\u2029\xff\"\\\b\f\n\r\t\x01", "é", "", "\x00", "", "")
	f.Fuzz(func(t *testing.T, v int, op, user, code, codes, service, rhost, tty, pubkey, flow, grace string) {
		r := Request{Version: v, Op: Op(op), User: user, Code: code, Service: service, RHost: rhost, TTY: tty, PubKey: pubkey, Flow: flow, Grace: grace}
		if codes != "" {
			r.Codes = strings.Split(codes, "\x00")
		}
		want, err := json.Marshal(r)
		require.NoError(t, err)
		require.Equal(t, string(want), string(AppendRequest(nil, &r)))
		var frame bytes.Buffer
		require.NoError(t, WriteRequest(&frame, &r))
		var back Request
		require.NoError(t, ReadJSON(&frame, 0, &back))
	})
}

// FuzzDecodeRequest: whatever the fast path decodes, encoding/json
// decodes too, to the same Request; and every request AppendRequest
// writes of this version takes the fast path.
func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"v":1,"op":"login.verify","user":"alice","code":"123456","service":"sshd","rhost":"192.0.2.1","tty":"ssh"}`))
	f.Add([]byte(`{"v":1,"op":"login.enroll-confirm","user":"bob","codes":["111111","222222"]}`))
	f.Add([]byte(`{"v":1,"op":"login.query","user":"alice","service":"sshd","rhost":"192.0.2.1","pubkey":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}`))
	f.Add([]byte(`{"v":1,"op":"admin.require","user":"bob","grace":"7d","codes":[]}`))
	f.Add([]byte(`{"v":1,"op":"login.query","user":"alice","service":"openvpn","rhost":"192.0.2.1","flow":"forward_pass"}`))
	f.Add([]byte(`{"v":2,"op":"x","new":1}`))
	f.Add([]byte(`{"op":"status","v":1,"user":"\u00e9\n"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast Request
		d := fastDecoder{b: body}
		if !d.request(&fast) {
			var a, b Request
			require.Equal(t, DecodeMessage(body, &a), DecodeRequest(body, &b), "%q", body)
			require.Equal(t, a, b)
			return
		}
		var slow Request
		require.NoError(t, DecodeMessage(body, &slow), "the fast path decoded what encoding/json refuses: %q", body)
		require.Equal(t, slow, fast, "%q", body)
	})
}

// TestDecodeRequestFast: what the PAM module and totpctl send is read
// without encoding/json.
func TestDecodeRequestFast(t *testing.T) {
	for _, r := range []Request{
		{Version: Version, Op: OpLoginQuery, User: "alice", Service: "sshd", RHost: "192.0.2.1", TTY: "ssh"},
		{Version: Version, Op: OpLoginQuery, User: "alice", Service: "sshd", RHost: "192.0.2.1", TTY: "ssh", PubKey: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		{Version: Version, Op: OpLoginVerify, User: "alice", Code: "123456", Service: "su", TTY: "/dev/pts/0"},
		{Version: Version, Op: OpLoginEnrollConfirm, User: "bob", Codes: []string{"111111", "222222"}},
		{Version: Version, Op: OpUserRequire, User: "bob", Grace: "7d"},
	} {
		body := AppendRequest(nil, &r)
		var got Request
		d := fastDecoder{b: body}
		require.True(t, d.request(&got), "%s", body)
		require.Equal(t, r, got)
	}
}
