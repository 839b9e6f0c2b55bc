package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Snapshot file format, users/<name>, written by checkpoints:
//
//	"TOTPDSN1" | kind u8 (1 put, 2 delete) | seq u64 big endian | sealed record
//
// The sealed bytes are the very ones of the journal record the snapshot
// was made from, so a checkpoint copies them without decrypting.
const (
	snapMagic   = "TOTPDSN1"
	snapHdrSize = 8 + 1 + 8 // magic | kind | seq
)

// readSnapshot reads users/<user> and returns its record and whether the
// user has one (false: no file, or an authenticated delete marker). The
// caller holds s.mu (read) or owns s.
func (s *Store) readSnapshot(user string) (Record, bool, error) {
	path := filepath.Join(s.usersPath, user)
	fix := fixSnapshot
	fd, st, err := openRegularAt(s.usersfd, user, path, unix.O_RDONLY, 0)
	if errors.Is(err, unix.ENOENT) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, s.corrupt(user, "state file: "+err.Error(), fix)
	}
	defer unix.Close(fd)
	switch {
	case st.Size == 0:
		return Record{}, false, s.corrupt(user, "state file "+path+" is empty (0 bytes)", fix)
	case st.Size < snapHdrSize+minSealed:
		return Record{}, false, s.corrupt(user, fmt.Sprintf("state file %s is truncated (%d bytes)", path, st.Size), fix)
	case st.Size > snapHdrSize+maxSealedRecord:
		return Record{}, false, s.corrupt(user, fmt.Sprintf("state file %s is too large (%d bytes)", path, st.Size), fix)
	}
	b, err := readAllFD(fd, st.Size)
	if err != nil {
		return Record{}, false, s.corrupt(user, fmt.Sprintf("reading state file %s: %v", path, err), fix)
	}
	kind := b[8]
	if string(b[:8]) != snapMagic || (kind != kindPut && kind != kindDelete) {
		return Record{}, false, s.corrupt(user, "state file "+path+" has a damaged header", fix)
	}
	seq := binary.BigEndian.Uint64(b[9:17])
	return s.decode(user, kind, seq, b[snapHdrSize:], "state file "+path, fix)
}

// prepareSnapshot writes one user's latest journal record to a temporary
// file in users/ and returns its name, or "" if the user's file is to be
// removed (an authenticated delete marker).
func (s *Store) prepareSnapshot(user string, e entry) (string, error) {
	sealed := make([]byte, e.n)
	if err := preadFull(e.j.fd, sealed, e.off); err != nil {
		return "", fmt.Errorf("reading %s at byte %d: %w", e.j.path, e.off, err)
	}
	if e.kind == kindDelete {
		if _, err := s.sealer.open(purposeDelete, user, e.seq, sealed); err == nil {
			return "", nil
		}
		// A delete marker that fails authentication is kept as it is, so
		// that Get keeps failing for this user instead of forgetting it.
	}
	data := make([]byte, snapHdrSize, snapHdrSize+len(sealed))
	copy(data, snapMagic)
	data[8] = e.kind
	binary.BigEndian.PutUint64(data[9:17], e.seq)
	data = append(data, sealed...)
	return writeTemp(s.usersfd, s.usersPath, user, data)
}
