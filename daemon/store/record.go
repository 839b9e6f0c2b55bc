package store

import (
	"errors"
	"fmt"
	"time"

	"github.com/totpd/totpd/daemon/names"
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
	// Remembered are the user's remembered logins ([policy] remember,
	// daemon/engine/remember.go), each only a hash of what it is for.
	Remembered []Remembered `json:"remembered,omitempty"`
	// ForgetBefore is the last time the remembered logins were dropped
	// (a lockout, a disable, a re-enrollment, forget, a restore): an
	// entry made before it is void, so that in fleet mode a drop
	// in etcd wins over the entries a host wrote back from offline.
	ForgetBefore time.Time `json:"forget_before,omitempty"`
	Seq          uint64    `json:"seq"` // bumped by the store on each Put
	// Copy is set in a fleet host's local copy of a cluster record
	// (daemon/cluster) and nowhere else: never sent to etcd.
	Copy *ClusterCopy `json:"copy,omitempty"`
	// WriteBack is, in fleet mode, the id of the last write-back of
	// offline decisions merged into this record (OfflineChanges.ID), so
	// that a write-back whose answer was lost is not merged twice.
	WriteBack string `json:"wb,omitempty"`
}

// ClusterCopy is what a fleet host keeps beside its local copy of a
// user's record (daemon/cluster): which etcd revision it is a copy of,
// and what the host decided while etcd did not answer.
type ClusterCopy struct {
	// Rev is the etcd mod revision the copy was taken at; 0: the record
	// has not been in etcd (a host's own user from before fleet mode).
	Rev int64 `json:"rev"`
	// Offline is set while the host has decisions about the user that
	// etcd does not have yet.
	Offline *OfflineChanges `json:"offline,omitempty"`
	// Unreadable is set when etcd's record of the user did not open
	// (tampered, or sealed under another key): offline, the user is
	// denied, never taken for not enrolled.
	Unreadable bool `json:"unreadable,omitempty"`
}

// OfflineChanges sums up the decisions a fleet host made about one user
// from its local copy, for the write-back's merge (daemon/cluster).
type OfflineChanges struct {
	// ID names this host's write-back of these changes (random, made
	// at the first change), which the merged record carries.
	ID string `json:"id"`
	// EnrolledAt is the enrollment they were made on: a record in etcd
	// of another enrollment (re-enrolled or disabled meanwhile) wins.
	EnrolledAt time.Time `json:"enrolled_at"`
	// Failures counts failures since the last success offline; they are
	// added to etcd's.
	Failures int `json:"failures,omitempty"`
	// Accepted is set when a code was accepted: the later step wins.
	Accepted bool `json:"accepted,omitempty"`
	// Locked is set when the host locked the user: the later lock wins.
	Locked bool `json:"locked,omitempty"`
	// UsedRecovery are the hashes of recovery codes used.
	UsedRecovery []string `json:"used_recovery,omitempty"`
}

// Remembered is one remembered login: after an accepted code at At, the
// login of Key (the hex SHA-256 of the user, service, remote host and
// public key; never those in clear) is let in without a code until Until.
type Remembered struct {
	Key   string    `json:"k"`
	At    time.Time `json:"at"`
	Until time.Time `json:"until"`
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

// maxUserLen is the longest user name the store accepts: the file
// system's bound on a file name (NAME_MAX), since each user's snapshot is
// a file named after the user. Logins are held to the shorter
// names.MaxLen before they reach the store.
const maxUserLen = 255

// ValidUser reports why name cannot be a user name in the store, or nil:
// names.CheckLen with maxUserLen, the one rule of user names. That rule
// refuses '/', a leading '.' (so "." and ".."), NUL and every other
// control character, so a valid name is always one safe file name
// component of the users directory.
func ValidUser(name string) error {
	if err := names.CheckLen(name, maxUserLen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidUser, err)
	}
	return nil
}
