package store

// Replace: the whole state swapped for another at once (totpctl restore,
// with the records of a backup that ReadBackup authenticated).

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Replace makes recs the whole state, atomically: every user with a record
// now and none in recs is deleted, and each record of recs (its Seq
// ignored, as Put's) becomes its user's. The new state is written beside
// the old as a journal file of its own, fdatasync'ed, and put in place by
// one rename (and an fsync of the directory) made by the writer between
// two batches, when no write is in flight: a crash at any instant leaves
// the old state or the new one, never a mix, and the old journal is
// complete when the new one appears, as replay requires of every journal
// but the newest. The records get sequence numbers above every record
// present, so they supersede the old journal and every snapshot; a
// checkpoint then folds them into users/ as usual.
//
// The caller keeps Puts and Deletes of every user that recs name or that
// has a record now from running meanwhile (the engine holds their locks);
// Puts of other users go on, paused only for the rename.
func (s *Store) Replace(recs []Record) error {
	names := make(map[string]bool, len(recs))
	for _, r := range recs {
		if err := ValidUser(r.User); err != nil {
			return err
		}
		if names[r.User] {
			return fmt.Errorf("store: replace: user %q twice", r.User)
		}
		names[r.User] = true
	}
	s.ckptMu.Lock() // no checkpoint changes users/ or the journals meanwhile
	defer s.ckptMu.Unlock()
	present, err := s.Users()
	if err != nil {
		return err
	}
	var drop []string
	for _, u := range present {
		if !names[u] {
			drop = append(drop, u)
		}
	}
	total := len(recs) + len(drop)
	if total == 0 {
		return nil
	}
	last := s.seq.Add(uint64(total))
	first := last - uint64(total) + 1

	// The new journal's contents: a placeholder header (written once the
	// generation is known), then batches as the writer frames them.
	type placed struct {
		user string
		e    entry // j is filled in at the swap
	}
	at := make([]placed, 0, total)
	data := make([]byte, journalHdrSize, journalHdrSize+total*256)
	batchStart, inBatch := -1, 0
	endBatch := func() {
		if batchStart >= 0 {
			frameBatch(data[batchStart:], inBatch)
		}
		batchStart, inBatch = -1, 0
	}
	add := func(kind byte, user string, seq uint64, sealed []byte) {
		if batchStart >= 0 && len(data)-batchStart+len(sealed) >= maxBatchBytes {
			endBatch()
		}
		if batchStart < 0 {
			batchStart = len(data)
			data = append(data, make([]byte, batchHdrSize)...)
		}
		var off int // of the sealed bytes in data, which is the whole file
		data, off = appendRecord(data, kind, user, seq, sealed)
		at = append(at, placed{user, entry{off: int64(off), n: uint32(len(sealed)), seq: seq, kind: kind}})
		inBatch++
	}
	for i := range recs {
		r := recs[i]
		r.Seq = first + uint64(i)
		pt, err := json.Marshal(&r)
		if err != nil {
			return fmt.Errorf("store: encoding record of %q: %w", r.User, err)
		}
		if len(pt)+minSealed > maxSealedRecord {
			clear(pt)
			return fmt.Errorf("store: record of %q is too large (%d bytes)", r.User, len(pt))
		}
		add(kindPut, r.User, r.Seq, s.sealer.seal(purposeRecord, r.User, r.Seq, pt))
		clear(pt)
	}
	for i, u := range drop {
		seq := first + uint64(len(recs)+i)
		add(kindDelete, u, seq, s.sealer.seal(purposeDelete, u, seq, nil))
	}
	endBatch()
	defer clear(data)

	tmp := tmpPrefix + "journal-restore-" + randSuffix()
	tmpPath := filepath.Join(s.dir, tmp)
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	fd, err := unix.Openat(s.dirfd, tmp, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|openFlags, 0o600)
	s.mu.RUnlock()
	if err != nil {
		return &os.PathError{Op: "create", Path: tmpPath, Err: err}
	}
	placedOK := false
	defer func() {
		if !placedOK {
			unix.Close(fd)
			_ = unix.Unlinkat(s.dirfd, tmp, 0)
		}
	}()
	if err := pwriteAll(fd, data, 0); err != nil {
		return &os.PathError{Op: "write", Path: tmpPath, Err: err}
	}
	if err := unix.Fdatasync(fd); err != nil {
		return &os.PathError{Op: "fdatasync", Path: tmpPath, Err: err}
	}
	return s.inWriter(func() error {
		if s.broken != nil {
			return s.broken
		}
		gen := s.current().gen + 1
		name := journalName(gen)
		path := filepath.Join(s.dir, name)
		if err := pwriteAll(fd, encodeJournalHeader(gen, first), 0); err != nil {
			return &os.PathError{Op: "write", Path: tmpPath, Err: err}
		}
		if err := unix.Fdatasync(fd); err != nil {
			return &os.PathError{Op: "fdatasync", Path: tmpPath, Err: err}
		}
		if err := unix.Renameat(s.dirfd, tmp, s.dirfd, name); err != nil {
			return &os.PathError{Op: "rename", Path: path, Err: err}
		}
		placedOK = true // from here on the file is the journal: never unlinked here
		j := &journal{gen: gen, baseSeq: first, fd: fd, path: path, name: name, size: int64(len(data)), records: total}
		s.mu.Lock()
		s.journals = append(s.journals, j)
		for _, p := range at {
			if old, ok := s.index[p.user]; ok && old.seq >= p.e.seq {
				continue // as commit: a user no one held back was written meanwhile
			}
			p.e.j = j
			s.index[p.user] = p.e
		}
		s.mu.Unlock()
		if err := unix.Fsync(s.dirfd); err != nil {
			// The new state is in place for this run; only its durability
			// across a crash is in doubt, which the caller must hear.
			return &os.PathError{Op: "fsync", Path: s.dir, Err: err}
		}
		// Fold the old journal into snapshots and remove it, in the
		// background as after any rotation (it waits for ckptMu).
		if !s.ckptRunning.Load() {
			s.startCheckpoint()
		}
		return nil
	})
}

// inWriter runs fn on the writer goroutine between two batches, when no
// journal write is in flight, and reports its error; Puts queued meanwhile
// wait for it.
func (s *Store) inWriter(fn func() error) error {
	return s.submit(&pendingRec{run: fn, done: make(chan error, 1)})
}

// frameBatch fills in the header of the batch b holds (its header space
// and count records after it), as commit frames the batches it writes.
func frameBatch(b []byte, count int) {
	binary.BigEndian.PutUint32(b[0:4], batchMagic)
	binary.BigEndian.PutUint32(b[4:8], uint32(len(b)-batchHdrSize))
	binary.BigEndian.PutUint32(b[12:16], uint32(count))
	binary.BigEndian.PutUint32(b[8:12], crc32Castagnoli(b[12:]))
}
