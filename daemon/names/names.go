// Package names holds the one rule of what totpd takes as a user name.
// The engine applies it before any lookup, the server before anything of
// a request is used or audited, the configuration to exempt_users, and
// the store (with its own length bound, see CheckLen) to every name that
// becomes a file name. It imports nothing of totpd, so every part can
// use it.
package names

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxLen bounds a user name, in bytes. Linux tools cap names at 32
// bytes; 64 leaves room for directory-service names while keeping file
// names, log lines and frames small.
const MaxLen = 64

// Error is why a name is not a user name.
type Error struct {
	Name string // the name refused, as given
	// Why says what is wrong, as a clause to put after the name:
	// "it contains a space".
	Why string
}

func (e *Error) Error() string {
	return "user name " + shown(e.Name) + ": " + e.Why
}

// shown quotes name for a message, cut to MaxLen bytes so that an
// over-long name does not fill the line.
func shown(name string) string {
	if len(name) > MaxLen {
		cut := MaxLen
		for cut > 0 && !utf8.RuneStart(name[cut]) {
			cut--
		}
		return strconv.Quote(name[:cut]) + "…"
	}
	return strconv.Quote(name)
}

// Check reports an *Error unless name is a user name totpd acts on:
// non-empty, at most MaxLen bytes of valid UTF-8, not starting with '.'
// or '-' (so not "." or ".." either), and without '/', the ':' and ','
// that separate fields and members in /etc/passwd and /etc/group, a
// space, or a control character (C0, DEL, C1, NUL among them). Such a
// name is also safe as a file name, which the store relies on.
func Check(name string) error { return CheckLen(name, MaxLen) }

// CheckLen is Check with max instead of MaxLen as the bound on the
// length. Only the store uses it, with the file system's bound on a
// file name (255): the store keeps whatever valid name it is given, and
// the shorter bound of a login is Check's, applied before the store.
func CheckLen(name string, max int) error {
	bad := func(why string) error { return &Error{Name: name, Why: why} }
	switch {
	case name == "":
		return bad("it is empty")
	case len(name) > max:
		return bad(fmt.Sprintf("it is %d bytes long; the limit is %d", len(name), max))
	case !utf8.ValidString(name):
		return bad("it is not valid UTF-8")
	case strings.ContainsAny(name, ":,/"):
		return bad("it contains ':', ',' or '/'")
	case name[0] == '.' || name[0] == '-':
		return bad(fmt.Sprintf("it starts with '%c'", name[0]))
	}
	for _, r := range name {
		switch {
		case r == ' ':
			return bad("it contains a space, which no login name has")
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return bad(fmt.Sprintf("it contains the control character %U", r))
		}
	}
	return nil
}
