package engine

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameLen bounds a user name. Linux tools cap names at 32 bytes;
// 64 leaves room for directory-service names while keeping file names,
// log lines and frames small.
const MaxNameLen = 64

// CheckName reports an error unless name is safe to use as a user name
// and a file name: non-empty, at most MaxNameLen bytes of valid UTF-8,
// no '/', no control bytes or NUL, not "." or "..", no leading '-' or '.'.
// It runs before any lookup or file access.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("user name is empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("user name is %d bytes long; the limit is %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("user name is not valid UTF-8")
	case strings.ContainsRune(name, '/'):
		return fmt.Errorf("user name %q contains '/'", name)
	case strings.HasPrefix(name, ".") || strings.HasPrefix(name, "-"):
		return fmt.Errorf("user name %q starts with %q", name, name[:1])
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == ':' || r == ' ' {
			return fmt.Errorf("user name %q contains the character %U, which no account name has", name, r)
		}
	}
	return nil
}
