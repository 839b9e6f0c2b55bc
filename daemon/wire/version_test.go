package wire

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDecodeMessageVersionFirst: a message of another version is the
// version error whatever fields it has; only this version is strict.
func TestDecodeMessageVersionFirst(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		got        int  // the VersionError's Got; 0 with missing or no VersionError
		missing    bool // a VersionError for a message without a version
		wantErr    string
	}{
		{"v2 request with a new field", `{"v":2,"op":"login.query","user":"alice","proof":{"kind":"webauthn"}}`, 2, false, ""},
		{"v2 response with a new field", `{"v":2,"action":"allow","risk":0.3}`, 2, false, ""},
		{"v2 with data after it", `{"v":2,"op":"x"} {}`, 2, false, ""},
		{"v0", `{"v":0,"op":"status"}`, 0, false, ""},
		{"no version", `{"op":"status","extra":1}`, 0, true, ""},
		{"null version", `{"v":null}`, 0, true, ""},
		{"v1 with an unknown field", `{"v":1,"op":"status","usr":"x"}`, 0, false, "unknown field"},
		{"v1 with data after it", `{"v":1}{"v":1}`, 0, false, "after the JSON"},
		{"version not a number", `{"v":"1","op":"status"}`, 0, false, "bad message"},
		{"version not whole", `{"v":1.5}`, 0, false, "bad message"},
		{"not an object", `[1]`, 0, false, "bad message"},
		{"not JSON", `{v:1`, 0, false, "bad message"},
		{"empty", ``, 0, false, "bad message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range []any{&Request{}, &Response{}} {
				err := DecodeMessage([]byte(tc.body), v)
				var ve *VersionError
				if tc.wantErr != "" {
					require.False(t, errors.As(err, &ve), "%T: not a version error: %v", v, err)
					require.ErrorContains(t, err, tc.wantErr, "%T", v)
					continue
				}
				require.True(t, errors.As(err, &ve), "%T: want the version error, got %v", v, err)
				require.Equal(t, tc.got, ve.Got)
				require.Equal(t, tc.missing, ve.Missing)
			}
		})
	}

	var req Request
	require.NoError(t, DecodeMessage([]byte(`{"v":1,"op":"status","service":"sshd"}`), &req))
	require.Equal(t, Request{Version: 1, Op: OpStatus, Service: "sshd"}, req)
	require.ErrorContains(t, DecodeMessage([]byte(`{"v":2}`), &req), "protocol version 2; this side speaks 1")
}

// TestValidateBounds: each free-text field is accepted at MaxField bytes
// and refused one byte over, with an error naming the field and the limit.
func TestValidateBounds(t *testing.T) {
	set := func(r *Request, field string, v string) {
		switch field {
		case "op":
			r.Op = Op(v)
		case "code":
			r.Code = v
		case "service":
			r.Service = v
		case "rhost":
			r.RHost = v
		case "tty":
			r.TTY = v
		case "pubkey":
			r.PubKey = v
		case "flow":
			r.Flow = v
		case "grace":
			r.Grace = v
		case "codes[1]":
			r.Codes = []string{"123456", v}
		default:
			t.Fatalf("no field %s", field)
		}
	}
	for _, field := range []string{"op", "code", "service", "rhost", "tty", "pubkey", "flow", "grace", "codes[1]"} {
		r := Request{Version: Version, Op: OpLoginQuery, User: "alice"}
		set(&r, field, strings.Repeat("a", MaxField))
		require.NoError(t, r.Validate(), "%s at the limit", field)

		set(&r, field, strings.Repeat("a", MaxField+1))
		err := r.Validate()
		var fe *FieldError
		require.True(t, errors.As(err, &fe), "%s over the limit: %v", field, err)
		require.Equal(t, field, fe.Field)
		require.Equal(t, `the field "`+field+`" is 257 bytes long; the limit is 256 bytes`, err.Error())
	}
	r := Request{Version: Version, Op: OpLoginQuery, Service: strings.Repeat("x", 5000)}
	require.ErrorContains(t, r.Validate(), `"service" is 5000 bytes long; the limit is 256`)
	require.NotContains(t, r.Validate().Error(), "xxxx", "the value is not in the error")
}

// TestValidateCoversEveryField fails when a string field is added to
// Request without a bound: each one over MaxField must be refused (User
// has its own, stricter check: names.Check).
func TestValidateCoversEveryField(t *testing.T) {
	long := strings.Repeat("a", MaxField+1)
	rt := reflect.TypeOf(Request{})
	for i := 0; i < rt.NumField(); i++ {
		f := rt.Field(i)
		if f.Name == "User" {
			continue
		}
		var r Request
		fv := reflect.ValueOf(&r).Elem().Field(i)
		switch {
		case f.Type.Kind() == reflect.String:
			fv.SetString(long)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.String:
			fv.Set(reflect.ValueOf([]string{long}))
		default:
			continue
		}
		require.Error(t, r.Validate(), "Request.%s is not bounded by Validate", f.Name)
	}
}
