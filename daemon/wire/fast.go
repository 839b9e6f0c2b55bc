package wire

// The login's codec. The PAM module runs in a fresh process for every
// login, where encoding/json's first use of a type is expensive: it
// reflects over the type and pages in its own code, 0.19 ms to encode the
// first Request and 0.25 ms to decode the first Response on the bench
// machine, about 6% of a whole pamtester login. AppendRequest and
// DecodeResponse do the same work without reflection. They are a shortcut
// of the rules above, not a second set: AppendRequest writes exactly the
// bytes json.Marshal writes (FuzzAppendRequest), and DecodeResponse
// decodes only the plain shapes the daemon sends a login, leaving
// everything else (another version, an unknown or repeated field, a
// null, an escape it does not read) to DecodeMessage; whatever it does
// decode, DecodeMessage decodes the same (FuzzDecodeResponse). The
// daemon reads requests the same way (DecodeRequest, FuzzDecodeRequest):
// 41 µs a request with encoding/json while a login's child competes for
// the CPU.

import (
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// AppendRequest appends r encoded as json.Marshal encodes it.
func AppendRequest(b []byte, r *Request) []byte {
	b = append(b, `{"v":`...)
	b = strconv.AppendInt(b, int64(r.Version), 10)
	b = appendField(b, "op", string(r.Op), false)
	b = appendField(b, "user", r.User, true)
	b = appendField(b, "code", r.Code, true)
	if len(r.Codes) > 0 {
		b = append(b, `,"codes":[`...)
		for i, c := range r.Codes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c)
		}
		b = append(b, ']')
	}
	b = appendField(b, "service", r.Service, true)
	b = appendField(b, "rhost", r.RHost, true)
	b = appendField(b, "tty", r.TTY, true)
	b = appendField(b, "pubkey", r.PubKey, true)
	b = appendField(b, "flow", r.Flow, true)
	b = appendField(b, "grace", r.Grace, true)
	b = appendImport(b, r.Import)
	return append(b, '}')
}

// WriteRequest writes r as one frame (AppendRequest).
func WriteRequest(w io.Writer, r *Request) error {
	b := AppendRequest(make([]byte, 4, 128), r)
	if len(b)-4 > MaxFrame {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(b)-4, MaxFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	_, err := w.Write(b)
	return err
}

func appendField(b []byte, name, v string, omitEmpty bool) []byte {
	if omitEmpty && v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendString appends s as a JSON string the way encoding/json does:
// HTML-safe, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// DecodeRequest decodes a request body as DecodeMessage does.
func DecodeRequest(body []byte, r *Request) error {
	d := fastDecoder{b: body}
	if d.request(r) {
		return nil
	}
	*r = Request{}
	return DecodeMessage(body, r)
}

// DecodeResponse decodes a response body as DecodeMessage does.
func DecodeResponse(body []byte, r *Response) error {
	d := fastDecoder{b: body}
	if d.response(r) {
		return nil
	}
	*r = Response{}
	return DecodeMessage(body, r)
}

// fastDecoder reads the plain JSON the daemon writes. Each method
// reports false on anything it does not handle, and the caller then
// leaves the whole body to encoding/json.
type fastDecoder struct {
	b []byte
	i int
}

func (d *fastDecoder) response(r *Response) bool {
	seen := map[string]bool{}
	ok := d.object(func(key string) bool {
		if seen[key] {
			return false // encoding/json merges repeated fields: leave it that
		}
		seen[key] = true
		switch key {
		case "v":
			return d.int(&r.Version)
		case "action":
			var s string
			ok := d.string(&s)
			r.Action = Action(s)
			return ok
		case "locked":
			return d.bool(&r.Locked)
		case "digits":
			return d.int(&r.Digits)
		case "error":
			r.Error = &Error{}
			return d.fields(map[string]func() bool{
				"code":    func() bool { return d.string(&r.Error.Code) },
				"message": func() bool { return d.string(&r.Error.Message) },
			})
		case "messages":
			r.Messages = []Message{}
			return d.array(func() bool {
				var m Message
				ok := d.fields(map[string]func() bool{
					"error": func() bool { return d.bool(&m.Error) },
					"text":  func() bool { return d.string(&m.Text) },
				})
				r.Messages = append(r.Messages, m)
				return ok
			})
		case "enrollment":
			e := &Enrollment{}
			r.Enrollment = e
			return d.fields(map[string]func() bool{
				"user":   func() bool { return d.string(&e.User) },
				"secret": func() bool { return d.string(&e.Secret) },
				"uri":    func() bool { return d.string(&e.URI) },
				"text":   func() bool { return d.string(&e.Text) },
				"recovery_codes": func() bool {
					e.RecoveryCodes = []string{}
					return d.array(func() bool {
						var s string
						ok := d.string(&s)
						e.RecoveryCodes = append(e.RecoveryCodes, s)
						return ok
					})
				},
				"confirm_codes": func() bool { return d.int(&e.ConfirmCodes) },
			})
		}
		return false
	})
	d.space()
	return ok && d.i == len(d.b) && r.Version == Version && seen["v"]
}

func (d *fastDecoder) request(r *Request) bool {
	var op string
	ok := d.fields(map[string]func() bool{
		"v":       func() bool { return d.int(&r.Version) },
		"op":      func() bool { return d.string(&op) },
		"user":    func() bool { return d.string(&r.User) },
		"code":    func() bool { return d.string(&r.Code) },
		"service": func() bool { return d.string(&r.Service) },
		"rhost":   func() bool { return d.string(&r.RHost) },
		"tty":     func() bool { return d.string(&r.TTY) },
		"pubkey":  func() bool { return d.string(&r.PubKey) },
		"flow":    func() bool { return d.string(&r.Flow) },
		"grace":   func() bool { return d.string(&r.Grace) },
		"codes": func() bool {
			r.Codes = []string{}
			return d.array(func() bool {
				var c string
				ok := d.string(&c)
				r.Codes = append(r.Codes, c)
				return ok
			})
		},
	})
	r.Op = Op(op)
	d.space()
	return ok && d.i == len(d.b) && r.Version == Version
}

// fields reads an object whose keys are among set, each at most once.
func (d *fastDecoder) fields(set map[string]func() bool) bool {
	seen := map[string]bool{}
	return d.object(func(key string) bool {
		f, ok := set[key]
		if !ok || seen[key] {
			return false
		}
		seen[key] = true
		return f()
	})
}

// object reads {"key": value, ...}, value by value(key).
func (d *fastDecoder) object(value func(key string) bool) bool {
	if !d.byte('{') {
		return false
	}
	if d.peek('}') {
		return d.byte('}')
	}
	for {
		var key string
		if !d.string(&key) || !d.byte(':') || !value(key) {
			return false
		}
		if d.peek('}') {
			return d.byte('}')
		}
		if !d.byte(',') {
			return false
		}
	}
}

// array reads [elem, ...], each by elem.
func (d *fastDecoder) array(elem func() bool) bool {
	if !d.byte('[') {
		return false
	}
	if d.peek(']') {
		return d.byte(']')
	}
	for {
		if !elem() {
			return false
		}
		if d.peek(']') {
			return d.byte(']')
		}
		if !d.byte(',') {
			return false
		}
	}
}

func (d *fastDecoder) space() {
	for d.i < len(d.b) && (d.b[d.i] == ' ' || d.b[d.i] == '\t' || d.b[d.i] == '\n' || d.b[d.i] == '\r') {
		d.i++
	}
}

func (d *fastDecoder) peek(c byte) bool {
	d.space()
	return d.i < len(d.b) && d.b[d.i] == c
}

func (d *fastDecoder) byte(c byte) bool {
	if !d.peek(c) {
		return false
	}
	d.i++
	return true
}

func (d *fastDecoder) bool(v *bool) bool {
	d.space()
	for _, w := range []string{"true", "false"} {
		if len(d.b)-d.i >= len(w) && string(d.b[d.i:d.i+len(w)]) == w {
			d.i += len(w)
			*v = w == "true"
			return true
		}
	}
	return false
}

// int reads a plain integer of at most 9 digits, no sign, no leading zero.
func (d *fastDecoder) int(v *int) bool {
	d.space()
	start := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	n := d.i - start
	if n == 0 || n > 9 || (n > 1 && d.b[start] == '0') {
		return false
	}
	if d.i < len(d.b) && (d.b[d.i] == '.' || d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		return false
	}
	x, err := strconv.Atoi(string(d.b[start:d.i]))
	*v = x
	return err == nil
}

// string reads a string of valid UTF-8 with the escapes encoding/json
// writes, except surrogate pairs (not read: left to encoding/json).
func (d *fastDecoder) string(v *string) bool {
	if !d.byte('"') {
		return false
	}
	var out []byte
	start := d.i
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			if out == nil {
				out = d.b[start:d.i]
			}
			if !utf8.Valid(out) {
				return false
			}
			*v = string(out)
			d.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if out == nil {
				out = append([]byte{}, d.b[start:d.i]...)
			}
			if d.i+1 >= len(d.b) {
				return false
			}
			e := d.b[d.i+1]
			d.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				if d.i+4 > len(d.b) {
					return false
				}
				x, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 16)
				if err != nil || (x >= 0xd800 && x < 0xe000) {
					return false
				}
				out = utf8.AppendRune(out, rune(x))
				d.i += 4
			default:
				return false
			}
		default:
			if out != nil {
				out = append(out, c)
			}
			d.i++
		}
	}
	return false
}
