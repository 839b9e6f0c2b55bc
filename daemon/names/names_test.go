package names

import (
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, n := range []string{
		"alice", "a.b-c_d", "user@example.com", `DOMAIN\bob`, "Ünïcødé", "a-", "1000", "adm1n$",
		strings.Repeat("a", MaxLen),
	} {
		if err := Check(n); err != nil {
			t.Errorf("Check(%q) = %v, want nil", n, err)
		}
	}
	for n, why := range map[string]string{
		"":                          "it is empty",
		strings.Repeat("a", 65):     "it is 65 bytes long; the limit is 64",
		"a\xffb":                    "not valid UTF-8",
		".":                         "starts with '.'",
		"..":                        "starts with '.'",
		".hidden":                   "starts with '.'",
		"-rf":                       "starts with '-'",
		"a/b":                       "':', ',' or '/'",
		"../etc/passwd":             "':', ',' or '/'",
		"bad:name":                  "':', ',' or '/'",
		"a,b":                       "':', ',' or '/'",
		"Domain Admins@ad.example":  "a space",
		"a\x00b":                    "U+0000",
		"a\nb":                      "U+000A",
		"del\x7f":                   "U+007F",
		"c1\u0085":                  "U+0085",
		"esc\x1b[31m":               "U+001B",
		strings.Repeat("é", MaxLen): "the limit is 64",
	} {
		err := Check(n)
		var ne *Error
		if !errors.As(err, &ne) {
			t.Errorf("Check(%q) = %v, want an *Error", n, err)
			continue
		}
		if !strings.Contains(ne.Why, why) {
			t.Errorf("Check(%q) says %q, want it to say %q", n, ne.Why, why)
		}
		if len(err.Error()) > 150 {
			t.Errorf("Check(%q): the message is %d bytes long: %s", n, len(err.Error()), err)
		}
	}
}

// TestCheckLen: the store's longer bound changes the length and nothing else.
func TestCheckLen(t *testing.T) {
	if err := CheckLen(strings.Repeat("a", 255), 255); err != nil {
		t.Errorf("255 bytes within 255: %v", err)
	}
	if err := CheckLen(strings.Repeat("a", 256), 255); err == nil {
		t.Error("256 bytes within 255 accepted")
	}
	for _, n := range []string{"a b", "a/b", ".x", "a\x00"} {
		if CheckLen(n, 255) == nil {
			t.Errorf("CheckLen(%q, 255) accepted what Check refuses", n)
		}
	}
}
