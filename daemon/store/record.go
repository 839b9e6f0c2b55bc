package store

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Record is the whole persistent state of one user.
type Record struct {
	User string `json:"user"`
	// UID is the uid of the account the record was made for: an account
	// deleted and re-created under the same name (another uid) must not
	// inherit its secret, recovery codes, lockout or exemption. nil in
	// records written before it existed; the next save fills it in.
	UID              *uint32   `json:"uid,omitempty"`
	Secret           []byte    `json:"secret,omitempty"` // nil = not enrolled
	Algorithm        string    `json:"alg,omitempty"`    // params fixed at enrollment
	Digits           int       `json:"digits,omitempty"`
	PeriodSec        int       `json:"period,omitempty"`
	EnrolledAt       time.Time `json:"enrolled_at,omitempty"`
	LastStep         int64     `json:"last_step"` // last accepted TOTP step, -1 none
	DriftSteps       int       `json:"drift"`
	Failures         int       `json:"failures"`
	LockedUntil      time.Time `json:"locked_until,omitempty"`   // zero: not locked
	LockedForever    bool      `json:"locked_forever,omitempty"` // duration "0s": until admin unlock
	LastSuccess      time.Time `json:"last_success,omitempty"`
	RecoveryHashes   []string  `json:"recovery,omitempty"`       // hashed recovery codes, unused ones
	FirstRequired    time.Time `json:"first_required,omitempty"` // grace start
	Override         string    `json:"override,omitempty"`       // "", "require", "exempt"
	OverrideGraceSec int64     `json:"override_grace,omitempty"`
	OverrideGraceSet bool      `json:"override_grace_set,omitempty"` // OverrideGraceSec applies, even 0
	Pending          *Pending  `json:"pending,omitempty"`
	Seq              uint64    `json:"seq"` // bumped by the store on each Put
}

// Pending is an enrollment that was begun but not yet confirmed.
type Pending struct {
	Secret    []byte    `json:"secret"`
	Algorithm string    `json:"alg"`
	Digits    int       `json:"digits"`
	PeriodSec int       `json:"period"`
	CreatedAt time.Time `json:"created_at"`
}

var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store: closed")
	// ErrInvalidUser is returned for a user name the store refuses.
	ErrInvalidUser = errors.New("store: invalid user name")
	// ErrCorrupt wraps every error about one user's state that cannot be
	// read or authenticated. The caller must deny that user.
	ErrCorrupt = errors.New("store: user state unreadable")
	// ErrWrongKey is wrapped by Open's error when the master key does not
	// match the state directory.
	ErrWrongKey = errors.New("store: wrong master key")
)

// maxUserLen is the longest user name accepted (a file name component).
const maxUserLen = 255

// ValidUser reports why name cannot be a user name in the store, or nil.
func ValidUser(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidUser, truncateForMsg(name), why)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxUserLen:
		return bad(fmt.Sprintf("%d bytes, longer than %d", len(name), maxUserLen))
	case name == "." || name == "..":
		return bad("not a name")
	case name[0] == '.':
		return bad("starts with '.'")
	case name[0] == '-':
		return bad("starts with '-'")
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '/':
			return bad("contains '/'")
		case c == 0:
			return bad("contains NUL")
		case c < 0x20 || c == 0x7f:
			return bad("contains a control character")
		}
	}
	return nil
}

func truncateForMsg(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
