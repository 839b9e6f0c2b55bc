package store

// Backups (totpctl backup, totpctl restore): a point-in-time copy of every
// user's latest record, sealed under the master key, and reading one back
// (its records then replace the state: replace.go).
//
// Backup file format (integers big endian):
//
//	header:    "TOTPDBK1" | version u32 = 1 | created, unix nanoseconds i64 |
//	           records u32 | host length u8 | host
//	key check: length u16 | seal("backup-key", "", 0, backupKeyText)
//	header:    length u16 | seal("backup-header", <the header bytes>, 0, backup id: 16 random bytes)
//	records u32 times, sorted by user:
//	           user length u8 | user | length u32 | seal("backup-record/<hex id>", user, index, JSON Record)
//	and nothing after.
//
// The key check opens with the right key whatever else is in the file, so
// a backup made under another key is told apart from a damaged one. The
// header's seal binds its fields (a changed count, time or host fails);
// each record's binds the backup's id, the user and the record's place, so
// records cannot be moved between users, reordered, dropped, duplicated or
// spliced in from another backup; the authenticated count catches a
// truncated file. The purposes differ from those of the state files, so
// nothing sealed for a journal or a snapshot opens as a backup, and the
// other way round.

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sort"
	"time"
)

const (
	backupMagic   = "TOTPDBK1"
	backupVersion = 1
	backupKeyText = "totpd backup key check v1"

	purposeBackupKey    = "backup-key"
	purposeBackupHeader = "backup-header"
	purposeBackupRecord = "backup-record/" // + the backup's id in hex

	backupIDSize = 16
	// maxBackupRecords bounds the records a backup may announce, so that a
	// file's header cannot make a restore allocate without end.
	maxBackupRecords = 1 << 22
	maxBackupHost    = 255
)

var (
	// ErrBackupKey is wrapped by ReadBackup's error when the backup was
	// sealed under another master key than the store's.
	ErrBackupKey = errors.New("store: backup sealed under another master key")
	// ErrBadBackup is wrapped by ReadBackup's error when the file is not a
	// whole, unaltered totpd backup.
	ErrBadBackup = errors.New("store: not a valid totpd backup")
)

// BackupInfo describes a backup: when and on which host it was made, how
// many users it holds and its size in bytes.
type BackupInfo struct {
	Created time.Time
	Host    string
	Users   int
	Bytes   int64
}

// Backup is a backup as ReadBackup read it: its description and every
// user's record, authenticated.
type Backup struct {
	Info    BackupInfo
	Records []Record
}

// KeySource reports where the master key came from (Options.KeySource),
// or "" when Open was not told.
func (s *Store) KeySource() string { return s.opts.KeySource }

// Backup writes a point-in-time copy of every user's record to f, sealed
// under the master key, then fsyncs f; host and now describe it. Puts go
// on meanwhile (only checkpoints wait, see snapshot). An error means f
// holds no usable backup.
func (s *Store) Backup(f *os.File, host string, now time.Time) (BackupInfo, error) {
	recs, err := s.snapshotAll()
	if err != nil {
		return BackupInfo{}, err
	}
	defer clearRecords(recs)
	if len(recs) > maxBackupRecords {
		return BackupInfo{}, fmt.Errorf("store: %d users are more than a backup holds (%d)", len(recs), maxBackupRecords)
	}
	host = boundHost(host)
	var id [backupIDSize]byte
	_, _ = rand.Read(id[:])
	info := BackupInfo{Created: now, Host: host, Users: len(recs)}
	hdr := backupHeader(info)
	cw := &countWriter{w: f}
	w := bufio.NewWriterSize(cw, 64<<10)
	w.Write(hdr)
	writeU16Block(w, s.sealer.seal(purposeBackupKey, "", 0, []byte(backupKeyText)))
	writeU16Block(w, s.sealer.seal(purposeBackupHeader, string(hdr), 0, id[:]))
	purpose := purposeBackupRecord + hex.EncodeToString(id[:])
	for i := range recs {
		r := &recs[i]
		pt, err := json.Marshal(r)
		if err != nil {
			return BackupInfo{}, fmt.Errorf("store: encoding the record of %q: %w", r.User, err)
		}
		sealed := s.sealer.seal(purpose, r.User, uint64(i), pt)
		clear(pt)
		w.WriteByte(byte(len(r.User)))
		w.WriteString(r.User)
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(sealed)))
		w.Write(n[:])
		w.Write(sealed)
	}
	if err := w.Flush(); err != nil {
		return BackupInfo{}, fmt.Errorf("store: writing the backup: %w", err)
	}
	if err := f.Sync(); err != nil {
		return BackupInfo{}, fmt.Errorf("store: fsync of the backup: %w", err)
	}
	info.Bytes = cw.n
	return info, nil
}

// snapshotAll reports every user's latest record as of one instant, sorted
// by user: the index as it is at that instant, and for the users it does
// not name their users/ files, which cannot change meanwhile because
// checkpoints (their only writer) wait on ckptMu. Journals are only ever
// appended to, so the records the copied index points at stay where they
// are. The store's lock is taken for the copy and for each read, never
// for the whole: Puts keep being committed. An unreadable record fails the
// backup (a backup without that user would restore it as not enrolled).
func (s *Store) snapshotAll() ([]Record, error) {
	s.ckptMu.Lock()
	defer s.ckptMu.Unlock()
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, ErrClosed
	}
	index := maps.Clone(s.index)
	s.mu.RUnlock()
	names, err := s.listUsersDir()
	if err != nil {
		return nil, err
	}
	var recs []Record
	fail := func(err error) ([]Record, error) {
		clearRecords(recs)
		return nil, fmt.Errorf("store: cannot back up: %w", err)
	}
	for u, e := range index {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return fail(ErrClosed)
		}
		buf := make([]byte, e.n)
		err := preadFull(e.j.fd, buf, e.off)
		s.mu.RUnlock()
		where := fmt.Sprintf("record in journal %s at byte %d", e.j.path, e.off)
		if err != nil {
			return fail(s.corrupt(u, "reading the "+where+": "+err.Error(), fixJournal))
		}
		r, present, err := s.decode(u, e.kind, e.seq, buf, "the "+where, fixJournal)
		if err != nil {
			return fail(err)
		}
		if present {
			recs = append(recs, r)
		}
	}
	for _, u := range names {
		if _, ok := index[u]; ok || ValidUser(u) != nil {
			continue // in the journal, or a temporary file
		}
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return fail(ErrClosed)
		}
		r, present, err := s.readSnapshot(u)
		s.mu.RUnlock()
		if err != nil {
			return fail(err)
		}
		if present {
			recs = append(recs, r)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].User < recs[j].User })
	return recs, nil
}

// listUsersDir lists users/, under the store's lock against Close.
func (s *Store) listUsersDir() ([]string, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, ErrClosed
	}
	names, err := readDirNames(s.usersfd, s.usersPath)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return names, nil
}

// ReadBackup reads the backup r holds, authenticating all of it, and
// reports it. An error wraps ErrBackupKey for a backup sealed under
// another key, and ErrBadBackup for anything else that is not a whole,
// unaltered backup (truncated, tampered, not a backup at all); nothing of
// a refused backup is used.
func (s *Store) ReadBackup(r io.Reader) (*Backup, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	bad := func(format string, args ...any) (*Backup, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadBackup, fmt.Sprintf(format, args...))
	}
	fixed := make([]byte, 8+4+8+4+1)
	if _, err := io.ReadFull(br, fixed); err != nil {
		return bad("the file is too short to be one (%v)", err)
	}
	if string(fixed[:8]) != backupMagic {
		return bad("the file does not start as a totpd backup does")
	}
	if v := binary.BigEndian.Uint32(fixed[8:12]); v != backupVersion {
		return bad("the backup has format version %d; this totpd reads version %d", v, backupVersion)
	}
	info := BackupInfo{
		Created: time.Unix(0, int64(binary.BigEndian.Uint64(fixed[12:20]))),
		Users:   int(binary.BigEndian.Uint32(fixed[20:24])),
	}
	host := make([]byte, fixed[24])
	if _, err := io.ReadFull(br, host); err != nil {
		return bad("the header is truncated")
	}
	info.Host = string(host)
	hdr := append(fixed, host...)
	made := fmt.Sprintf("made on %q at %s", info.Host, info.Created.UTC().Format(time.RFC3339))
	kc, err := readU16Block(br)
	if err != nil {
		return bad("the header is truncated")
	}
	if len(kc) != minSealed+len(backupKeyText) {
		return bad("its key check has a wrong length: the file was altered or damaged")
	}
	hs, err := readU16Block(br)
	if err != nil {
		return bad("the header is truncated")
	}
	id, err := s.sealer.open(purposeBackupHeader, string(hdr), 0, hs)
	if pt, kerr := s.sealer.open(purposeBackupKey, "", 0, kc); (kerr != nil || string(pt) != backupKeyText) && err != nil {
		where := s.KeySource()
		if where == "" {
			where = "its master key"
		}
		return nil, fmt.Errorf("%w: the backup (%s) was sealed under another master key than this totpd's (%s), "+
			"so it cannot be read. Restore it with the key it was made with: put that key back as the master key, restart totpd, then restore",
			ErrBackupKey, made, where)
	} else if kerr != nil || string(pt) != backupKeyText {
		return bad("its key check fails although its header opens: the file was altered or damaged")
	}
	if err != nil || len(id) != backupIDSize {
		return bad("its header (%s, %d users) fails authentication: the file was altered or damaged", made, info.Users)
	}
	if info.Users > maxBackupRecords {
		return bad("it announces %d users, more than a backup holds", info.Users)
	}
	purpose := purposeBackupRecord + hex.EncodeToString(id)
	b := &Backup{Info: info, Records: make([]Record, 0, info.Users)}
	ok := false
	defer func() {
		if !ok {
			clearRecords(b.Records)
		}
	}()
	seen := make(map[string]bool, info.Users)
	var n [4]byte
	for i := 0; i < info.Users; i++ {
		truncated := func() (*Backup, error) {
			return bad("it ends after %d of its %d records: the file is truncated (an interrupted copy?)", i, info.Users)
		}
		ulen, err := br.ReadByte()
		if err != nil {
			return truncated()
		}
		user := make([]byte, ulen)
		if _, err := io.ReadFull(br, user); err != nil {
			return truncated()
		}
		if _, err := io.ReadFull(br, n[:]); err != nil {
			return truncated()
		}
		slen := binary.BigEndian.Uint32(n[:])
		if slen < minSealed || slen > maxSealedRecord {
			return bad("record %d has an impossible length (%d bytes): the file was altered or damaged", i, slen)
		}
		sealed := make([]byte, slen)
		if _, err := io.ReadFull(br, sealed); err != nil {
			return truncated()
		}
		name := string(user)
		pt, err := s.sealer.open(purpose, name, uint64(i), sealed)
		if err != nil {
			return bad("record %d fails authentication: the file was altered or damaged", i)
		}
		var rec Record
		err = json.Unmarshal(pt, &rec)
		clear(pt)
		switch {
		case err != nil:
			return bad("record %d cannot be decoded: %v", i, err)
		case rec.User != name || ValidUser(name) != nil:
			return bad("record %d holds another user than it names", i)
		case seen[name]:
			return bad("user %q appears twice", name)
		}
		seen[name] = true
		b.Records = append(b.Records, rec)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		return bad("there are bytes after its last record: the file was altered or damaged")
	}
	ok = true
	return b, nil
}

// backupHeader encodes the header fields of a backup.
func backupHeader(info BackupInfo) []byte {
	b := make([]byte, 0, 25+len(info.Host))
	b = append(b, backupMagic...)
	b = binary.BigEndian.AppendUint32(b, backupVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(info.Created.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, uint32(info.Users))
	b = append(b, byte(len(info.Host)))
	return append(b, info.Host...)
}

// boundHost cuts a host name to what the header holds, on a rune boundary.
func boundHost(h string) string {
	for len(h) > maxBackupHost {
		r := []rune(h)
		h = string(r[:len(r)-1])
	}
	return h
}

func writeU16Block(w *bufio.Writer, b []byte) {
	var n [2]byte
	binary.BigEndian.PutUint16(n[:], uint16(len(b)))
	w.Write(n[:])
	w.Write(b)
}

func readU16Block(r *bufio.Reader) ([]byte, error) {
	var n [2]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint16(n[:]))
	_, err := io.ReadFull(r, b)
	return b, err
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// clearRecords wipes the secrets of recs once they are no longer needed.
func clearRecords(recs []Record) {
	for i := range recs {
		clear(recs[i].Secret)
		if recs[i].Pending != nil {
			clear(recs[i].Pending.Secret)
		}
	}
}
