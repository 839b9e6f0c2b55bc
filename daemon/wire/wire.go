// Package wire is the one place the totpd protocol is defined: how a
// message is framed on the Unix socket and what the JSON bodies hold.
//
// A frame is a 4-byte big-endian length followed by that many bytes of
// JSON. The length is checked against MaxFrame before anything is
// allocated, so a peer that lies about it costs nothing. Every request
// carries Version, read before anything else (DecodeMessage); a server
// that does not speak it answers with ErrCodeVersion instead of guessing,
// and a client that does not speak the answer's reports so.
package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Version is the protocol version this package speaks.
const Version = 1

// DefaultSocket is where the protocol is spoken unless configured
// otherwise: the path totpd.socket listens on, the daemon's default
// socket (config.Default) and the one its clients dial
// (client.DefaultSocket).
const DefaultSocket = "/run/totpd/totpd.sock"

// MaxFrame is the hard cap on a frame body. The largest legitimate
// message is a user list for an admin; 1 MiB holds thousands of rows
// while keeping a hostile peer from making the daemon allocate much.
const MaxFrame = 1 << 20

// ErrFrameTooLarge reports a frame whose announced length exceeds MaxFrame.
var ErrFrameTooLarge = errors.New("frame larger than the protocol allows")

// ReadFrame reads one frame from r and reports its body. A length over
// max (or MaxFrame when max is 0) is refused before reading the body.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	if max <= 0 || max > MaxFrame {
		max = MaxFrame
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > uint32(max) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, n, max)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading %d-byte frame: %w", n, err)
	}
	return body, nil
}

// WriteFrame writes body as one frame to w in a single Write call.
func WriteFrame(w io.Writer, body []byte) error {
	if len(body) > MaxFrame {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(body), MaxFrame)
	}
	buf := make([]byte, 4+len(body))
	binary.BigEndian.PutUint32(buf, uint32(len(body)))
	copy(buf[4:], body)
	_, err := w.Write(buf)
	return err
}

// ReadJSON reads one frame and decodes it into v, refusing unknown fields
// so that a misspelt field is an error rather than silently ignored. It
// does not read the version first: the server and the client read
// messages with ReadMessage (DecodeMessage), which does.
func ReadJSON(r io.Reader, max int, v any) error {
	body, err := ReadFrame(r, max)
	if err != nil {
		return err
	}
	return Decode(body, v)
}

// Decode decodes a frame body into v, refusing unknown fields and trailing data.
func Decode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("bad message: %w", err)
	}
	if dec.More() {
		return errors.New("bad message: data after the JSON object")
	}
	return nil
}

// VersionError reports a message of a protocol version this package does
// not speak (Missing: one with no version at all).
type VersionError struct {
	Got     int
	Missing bool
}

func (e *VersionError) Error() string {
	if e.Missing {
		return fmt.Sprintf("the message carries no protocol version (this side speaks %d)", Version)
	}
	return fmt.Sprintf("the message speaks protocol version %d; this side speaks %d", e.Got, Version)
}

// ReadMessage reads one frame and decodes it into v by DecodeMessage.
func ReadMessage(r io.Reader, max int, v any) error {
	body, err := ReadFrame(r, max)
	if err != nil {
		return err
	}
	return DecodeMessage(body, v)
}

// DecodeMessage decodes a frame body, a request or a response, into v by
// the protocol's one rule, which the server and the client both follow:
// the version is read first and leniently, and a message of any other
// version is a *VersionError whatever other fields it has (a newer peer
// may add fields this side does not know); only a message of Version is
// then decoded strictly (Decode). The version field "v" is the one thing
// every version keeps: a whole number at the top level of a JSON object.
func DecodeMessage(body []byte, v any) error {
	got, err := version(body)
	if err != nil {
		return err
	}
	if got == nil {
		return &VersionError{Missing: true}
	}
	if *got != Version {
		return &VersionError{Got: *got}
	}
	return Decode(body, v)
}

// version reports the "v" of a message, nil when it has none, reading
// nothing else: unknown fields are ignored and whatever follows the
// first JSON value is left for Decode to refuse.
func version(body []byte) (*int, error) {
	var head struct {
		V *int `json:"v"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&head); err != nil {
		return nil, fmt.Errorf("bad message: %w (a message is a JSON object whose \"v\" is a whole number)", err)
	}
	return head.V, nil
}

// WriteJSON encodes v and writes it as one frame.
func WriteJSON(w io.Writer, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding message: %w", err)
	}
	return WriteFrame(w, body)
}
