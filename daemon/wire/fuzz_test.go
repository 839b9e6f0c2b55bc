package wire

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzReadFrame: whatever a peer sends, ReadFrame never reports a body
// over the cap, never panics, and what it reads is exactly the frame the
// bytes announced.
func FuzzReadFrame(f *testing.F) {
	frame := func(body string) []byte {
		b := make([]byte, 4+len(body))
		binary.BigEndian.PutUint32(b, uint32(len(body)))
		copy(b[4:], body)
		return b
	}
	for _, s := range [][]byte{
		nil, {0}, {0, 0, 0}, {0, 0, 0, 0}, {0xff, 0xff, 0xff, 0xff}, {0, 0x10, 0, 1, 'x'},
		frame(`{"v":1,"op":"status"}`), frame(`{"v":2,"op":"x","new":1}`), frame(""),
		append(frame(`{}`), frame(`{}`)...),
	} {
		f.Add(s, 64)
	}
	f.Fuzz(func(t *testing.T, data []byte, max int) {
		max %= 1 << 16
		body, err := ReadFrame(bytes.NewReader(data), max)
		if err != nil {
			require.Nil(t, body)
			return
		}
		limit := max
		if limit <= 0 {
			limit = MaxFrame
		}
		require.LessOrEqual(t, len(body), limit)
		require.GreaterOrEqual(t, len(data), 4+len(body))
		require.Equal(t, uint32(len(body)), binary.BigEndian.Uint32(data))
		require.Equal(t, data[4:4+len(body)], body)
		var again bytes.Buffer
		require.NoError(t, WriteFrame(&again, body))
		require.Equal(t, data[:4+len(body)], again.Bytes())
	})
}
