package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
)

// Purpose labels bound into the additional data of every sealed value.
const (
	purposeRecord   = "record"
	purposeDelete   = "delete"
	purposeKeyCheck = "keycheck"
)

const (
	nonceSize = 12
	tagSize   = 16
	// minSealed is the size of a sealed empty plaintext.
	minSealed = nonceSize + tagSize
)

var errAuth = errors.New("authentication failed")

type sealer struct {
	aead cipher.AEAD
}

// newSealer returns a sealer using AES-256-GCM under key, which must be 32
// bytes.
func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("store: master key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// aad is "totpd/v1/<purpose>\x00<user>\x00<seq big endian>".
func aad(purpose, user string, seq uint64) []byte {
	b := make([]byte, 0, 16+len(purpose)+len(user)+8)
	b = append(b, "totpd/v1/"...)
	b = append(b, purpose...)
	b = append(b, 0)
	b = append(b, user...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, seq)
}

// seal returns nonce || ciphertext || tag.
func (s *sealer) seal(purpose, user string, seq uint64, plaintext []byte) []byte {
	out := make([]byte, nonceSize, nonceSize+len(plaintext)+tagSize)
	_, _ = rand.Read(out) // crypto/rand.Read never fails
	return s.aead.Seal(out, out[:nonceSize], plaintext, aad(purpose, user, seq))
}

// open authenticates and decrypts what seal returned for the same purpose,
// user and seq, and returns the plaintext; any mismatch is errAuth.
func (s *sealer) open(purpose, user string, seq uint64, sealed []byte) ([]byte, error) {
	if len(sealed) < minSealed {
		return nil, errAuth
	}
	pt, err := s.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], aad(purpose, user, seq))
	if err != nil {
		return nil, errAuth
	}
	return pt, nil
}
