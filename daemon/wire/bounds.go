package wire

import "fmt"

// MaxField bounds every free-text field of a Request, in bytes. Service,
// rhost and tty come from PAM items (a host name is at most 253 bytes),
// grace is a duration, codes are a few digits or a recovery code: 256
// holds every legitimate value and keeps audit lines short.
const MaxField = 256

// FieldError reports a request field over its bound. It names the field
// and the limit, never the value, so it can be shown and audited as is.
type FieldError struct {
	Field string // the JSON name, e.g. "service" or "codes[1]"
	Len   int
	Max   int
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("the field %q is %d bytes long; the limit is %d bytes", e.Field, e.Len, e.Max)
}

// Validate reports a *FieldError for the first string field of r longer
// than MaxField, or nil. The user name is not bounded here: names have
// a stricter rule of their own (names.Check, the one name rule),
// which the server applies next to this.
func (r *Request) Validate() error {
	for _, f := range []struct {
		name, v string
	}{
		{"op", string(r.Op)}, {"code", r.Code}, {"service", r.Service},
		{"rhost", r.RHost}, {"tty", r.TTY}, {"pubkey", r.PubKey}, {"flow", r.Flow}, {"grace", r.Grace},
	} {
		if err := bound(f.name, f.v); err != nil {
			return err
		}
	}
	for i, c := range r.Codes {
		if err := bound(fmt.Sprintf("codes[%d]", i), c); err != nil {
			return err
		}
	}
	if r.Import != nil {
		if err := r.Import.validate(); err != nil {
			return err
		}
	}
	return nil
}

// bound reports a *FieldError when v is longer than MaxField.
func bound(field, v string) error {
	if len(v) > MaxField {
		return &FieldError{Field: field, Len: len(v), Max: MaxField}
	}
	return nil
}
