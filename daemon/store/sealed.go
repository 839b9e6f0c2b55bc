package store

import (
	"encoding/json"
	"fmt"
)

// Records sealed for another place than this host's journal: fleet
// mode's etcd (daemon/cluster). They use the same AEAD and master key as
// the journal, under their own purposes, so that a value can never be
// taken from one place for the other.
const (
	purposeShared      = "shared-record"
	purposeSharedCheck = "shared-keycheck"
)

// Sealer seals and opens records kept outside the journal under the
// master key: etcd never holds a secret, a recovery-code hash or any
// other field in clear.
type Sealer struct{ s *sealer }

// NewSealer returns a Sealer under key, the 32-byte master key.
func NewSealer(key []byte) (*Sealer, error) {
	s, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	return &Sealer{s}, nil
}

// SealRecord returns r sealed with r.User as associated data, so that a
// record copied to another user's key does not open. r.Seq and r.Copy
// are this host's and are left out.
func (x *Sealer) SealRecord(r Record) ([]byte, error) {
	if err := ValidUser(r.User); err != nil {
		return nil, err
	}
	r.Seq, r.Copy = 0, nil
	pt, err := json.Marshal(&r)
	if err != nil {
		return nil, fmt.Errorf("store: encoding record of %q: %w", r.User, err)
	}
	defer clear(pt)
	if len(pt)+minSealed > maxSealedRecord {
		return nil, fmt.Errorf("store: record of %q is too large (%d bytes)", r.User, len(pt))
	}
	return x.s.seal(purposeShared, r.User, 0, pt), nil
}

// OpenRecord authenticates and decodes what SealRecord returned for
// user. Any mismatch (tampered, damaged, sealed under another key or
// for another user) is an error wrapping ErrCorrupt: deny the user.
func (x *Sealer) OpenRecord(user string, sealed []byte) (Record, error) {
	if len(sealed) > maxSealedRecord {
		return Record{}, fmt.Errorf("%w: record of %q is %d bytes, over the bound of %d", ErrCorrupt, user, len(sealed), maxSealedRecord)
	}
	pt, err := x.s.open(purposeShared, user, 0, sealed)
	if err != nil {
		return Record{}, fmt.Errorf("%w: the record of %q fails authentication (tampered, damaged, copied from another user, or sealed under another master key)", ErrCorrupt, user)
	}
	defer clear(pt)
	var r Record
	if err := json.Unmarshal(pt, &r); err != nil {
		return Record{}, fmt.Errorf("%w: the record of %q cannot be decoded: %v", ErrCorrupt, user, err)
	}
	if r.User != user || r.Copy != nil {
		return Record{}, fmt.Errorf("%w: the record under %q is not that user's", ErrCorrupt, user)
	}
	return r, nil
}

// SealKeyCheck returns the known text sealed under the master key, which
// CheckKey opens on another host to tell whether both have the same key.
func (x *Sealer) SealKeyCheck() []byte {
	return x.s.seal(purposeSharedCheck, "", 0, []byte(keyCheckText))
}

// CheckKey reports whether sealed is SealKeyCheck's output under this
// Sealer's key; an error wrapping ErrWrongKey if it is not.
func (x *Sealer) CheckKey(sealed []byte) error {
	pt, err := x.s.open(purposeSharedCheck, "", 0, sealed)
	if err != nil || string(pt) != keyCheckText {
		return ErrWrongKey
	}
	return nil
}
