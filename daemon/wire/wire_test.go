package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

func frame(n uint32, body []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, n)
	return append(b, body...)
}

func TestReadFrame(t *testing.T) {
	cases := []struct {
		name    string
		in      []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"ok", frame(2, []byte("{}")), 0, []byte("{}"), nil},
		{"empty body", frame(0, nil), 0, []byte{}, nil},
		{"over cap", frame(MaxFrame+1, nil), 0, nil, ErrFrameTooLarge},
		{"over caller cap", frame(100, make([]byte, 100)), 10, nil, ErrFrameTooLarge},
		{"huge lying length", frame(0x7fffffff, []byte("x")), 0, nil, ErrFrameTooLarge},
		{"lying length", frame(10, []byte("abc")), 0, nil, io.ErrUnexpectedEOF},
		{"short header", []byte{0, 0}, 0, nil, io.ErrUnexpectedEOF},
		{"nothing", nil, 0, nil, io.EOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFrame(bytes.NewReader(tc.in), tc.max)
			if tc.wantErr != nil {
				require.True(t, errors.Is(err, tc.wantErr), "got %v", err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	req := Request{Version: Version, Op: OpLoginVerify, User: "alice", Code: "123456", Service: "sshd"}
	require.NoError(t, WriteJSON(&buf, req))
	var got Request
	require.NoError(t, ReadJSON(&buf, 0, &got))
	require.Equal(t, req, got)
}

func TestDecodeStrict(t *testing.T) {
	var r Request
	require.ErrorContains(t, Decode([]byte(`{"v":1,"op":"status","usr":"x"}`), &r), "unknown field")
	require.ErrorContains(t, Decode([]byte(`{"v":1}{"v":1}`), &r), "after the JSON")
	require.Error(t, Decode([]byte(`not json`), &r))
	require.Error(t, Decode(nil, &r))
}

func TestWriteFrameCap(t *testing.T) {
	require.ErrorIs(t, WriteFrame(io.Discard, make([]byte, MaxFrame+1)), ErrFrameTooLarge)
}
