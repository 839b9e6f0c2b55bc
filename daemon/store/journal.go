package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Journal file format (all integers big endian):
//
//	file header, 36 bytes:
//	  "TOTPDJNL" | version u32 = 1 | reserved u32 | generation u64 |
//	  base seq u64 (the store's counter when the file was made) | crc32c of the previous 32 bytes
//	then batches, one per group commit:
//	  magic u32 "TJB1" | body length u32 | crc32c u32 of (count | body) | count u32 | body
//	body: count records:
//	  kind u8 (1 put, 2 delete) | user length u8 | seq u64 | sealed length u32 | user | sealed
//
// A batch is written with one pwrite and made durable with one fdatasync
// before any Put in it returns.
const (
	journalPrefix   = "journal-"
	journalMagic    = "TOTPDJNL"
	journalVersion  = 1
	journalHdrSize  = 36
	batchMagic      = 0x544A4231 // "TJB1"
	batchHdrSize    = 16
	recHdrSize      = 14
	maxBatchBody    = 64 << 20
	maxSealedRecord = 64 << 10

	kindPut    = 1
	kindDelete = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32Castagnoli(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func journalName(gen uint64) string { return fmt.Sprintf("%s%016x", journalPrefix, gen) }

// parseJournalName returns the generation of a journal file name.
func parseJournalName(name string) (uint64, bool) {
	hexPart, ok := strings.CutPrefix(name, journalPrefix)
	if !ok || len(hexPart) != 16 {
		return 0, false
	}
	gen, err := strconv.ParseUint(hexPart, 16, 64)
	return gen, err == nil
}

func encodeJournalHeader(gen, baseSeq uint64) []byte {
	b := make([]byte, 0, journalHdrSize)
	b = append(b, journalMagic...)
	b = binary.BigEndian.AppendUint32(b, journalVersion)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, gen)
	b = binary.BigEndian.AppendUint64(b, baseSeq)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// journal is one open journal file.
type journal struct {
	gen     uint64
	baseSeq uint64
	fd      int
	path    string
	name    string
	size    int64 // end of the last good batch: where the next batch goes
	records int   // records in it (replayed or written)
}

// pendingRec is one record queued for the writer.
type pendingRec struct {
	kind   byte
	user   string
	seq    uint64
	sealed []byte
	done   chan error
	// run, when set, is not a record but a step the writer runs between
	// batches, alone (Store.inWriter, for Replace in replace.go); done gets its error.
	run func() error
}

// appendRecord appends the encoding of r to b and returns the new slice
// and the offset of the sealed bytes relative to the start of b's data.
func appendRecord(b []byte, kind byte, user string, seq uint64, sealed []byte) ([]byte, int) {
	b = append(b, kind, byte(len(user)))
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint32(b, uint32(len(sealed)))
	b = append(b, user...)
	off := len(b)
	b = append(b, sealed...)
	return b, off
}

// replayedRec is what replay reports for each record.
type replayedRec struct {
	j      *journal
	kind   byte
	user   string
	seq    uint64
	off    int64 // file offset of the sealed bytes
	n      uint32
	sealed []byte // valid only during the callback
}

// corruptJournalError reports damage that is not a torn tail.
func corruptJournalError(path string, off int64, what string) error {
	return fmt.Errorf("store: journal %s is damaged at byte %d (%s) and valid records follow, so this is not an interrupted write: "+
		"refusing to start rather than lose acknowledged updates. Restore the state directory from a backup; or, to accept that the "+
		"users updated in this journal fall back to their last checkpoint (a used code may work once more, counted failures are forgotten), "+
		"move %s out of the state directory and start again", path, off, what, path)
}

// parseBatch checks the batch at b[0:] and returns its total length, or an
// error describing why it is not a valid batch.
func parseBatch(b []byte) (int, error) {
	if len(b) < batchHdrSize {
		return 0, fmt.Errorf("incomplete batch header")
	}
	if binary.BigEndian.Uint32(b[0:4]) != batchMagic {
		return 0, fmt.Errorf("bad batch magic")
	}
	bodyLen := binary.BigEndian.Uint32(b[4:8])
	if bodyLen > maxBatchBody {
		return 0, fmt.Errorf("batch length %d too large", bodyLen)
	}
	total := batchHdrSize + int(bodyLen)
	if len(b) < total {
		return 0, fmt.Errorf("batch of %d bytes runs past the end of the file", total)
	}
	if crc32.Checksum(b[12:total], castagnoli) != binary.BigEndian.Uint32(b[8:12]) {
		return 0, fmt.Errorf("batch checksum mismatch")
	}
	return total, nil
}

// validBatchAfter reports whether a valid batch starts anywhere in b, and
// the offset of the first one.
func validBatchAfter(b []byte) (int, bool) {
	var magic [4]byte
	binary.BigEndian.PutUint32(magic[:], batchMagic)
	pos := 0
	for {
		i := bytes.Index(b[pos:], magic[:])
		if i < 0 {
			return 0, false
		}
		if _, err := parseBatch(b[pos+i:]); err == nil {
			return pos + i, true
		}
		pos += i + 1
	}
}

// replayJournal reads a journal file, calls fn for every record of every
// complete batch, cuts off a torn tail, and returns the journal.
//
// Only the newest journal can end in a torn write: an older one was
// complete when the next generation was started, so damage at its end is
// corruption.
func replayJournal(dirfd int, dirPath, name string, gen uint64, newest bool, logf func(string, ...any), fn func(replayedRec) error) (*journal, error) {
	path := filepath.Join(dirPath, name)
	fd, st, err := openRegularAt(dirfd, name, path, unix.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}
	j := &journal{gen: gen, fd: fd, path: path, name: name}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	// Read batch by batch (pread), so that replay needs memory for one
	// batch, not for the whole journal.
	size := st.Size
	hdr := make([]byte, journalHdrSize)
	if size < journalHdrSize || preadFull(fd, hdr, 0) != nil || string(hdr[:8]) != journalMagic ||
		crc32.Checksum(hdr[:32], castagnoli) != binary.BigEndian.Uint32(hdr[32:36]) {
		return nil, fmt.Errorf("store: journal %s has a damaged header (%d bytes long); restore the state directory from a backup", path, size)
	}
	if v := binary.BigEndian.Uint32(hdr[8:12]); v != journalVersion {
		return nil, fmt.Errorf("store: journal %s has version %d, this totpd reads version %d", path, v, journalVersion)
	}
	if g := binary.BigEndian.Uint64(hdr[16:24]); g != gen {
		return nil, fmt.Errorf("store: journal %s says it is generation %d; file names and contents do not match, restore the state directory from a backup", path, g)
	}
	j.baseSeq = binary.BigEndian.Uint64(hdr[24:32])
	off := int64(journalHdrSize)
	buf := make([]byte, 64<<10)
	for off < size {
		// Read the batch header, then the whole batch.
		n := min(int64(batchHdrSize), size-off)
		if err := preadFull(fd, buf[:n], off); err != nil {
			return nil, fmt.Errorf("store: reading journal %s: %w", path, err)
		}
		if n == batchHdrSize && binary.BigEndian.Uint32(buf[0:4]) == batchMagic {
			want := min(int64(batchHdrSize)+int64(binary.BigEndian.Uint32(buf[4:8])), size-off)
			if want > int64(len(buf)) && want <= batchHdrSize+maxBatchBody {
				buf = make([]byte, want)
			}
			if want <= int64(len(buf)) {
				if err := preadFull(fd, buf[:want], off); err != nil {
					return nil, fmt.Errorf("store: reading journal %s: %w", path, err)
				}
				n = want
			}
		}
		total, perr := parseBatch(buf[:n])
		if perr != nil {
			// Damaged or incomplete: look at everything after it.
			rest, err := readRange(fd, off, size)
			if err != nil {
				return nil, fmt.Errorf("store: reading journal %s: %w", path, err)
			}
			if at, found := validBatchAfter(rest[1:]); found {
				return nil, corruptJournalError(path, off, fmt.Sprintf("%v; next valid batch at byte %d", perr, off+1+int64(at)))
			}
			if !newest {
				return nil, fmt.Errorf("store: journal %s is damaged at byte %d (%v) although a newer journal exists, so acknowledged updates may be lost: "+
					"restore the state directory from a backup; or, to accept that the users updated in it fall back to their last checkpoint, move %s out of the state directory and start again",
					path, off, perr, path)
			}
			// Torn tail: the last write never completed, so nothing in it
			// was acknowledged. Cut it off before appending after it.
			logf("store: journal %s: dropping %d bytes of an interrupted write at byte %d (%v); it was never acknowledged", path, size-off, off, perr)
			if err := unix.Ftruncate(fd, off); err != nil {
				return nil, &os.PathError{Op: "truncate", Path: path, Err: err}
			}
			if err := unix.Fsync(fd); err != nil {
				return nil, &os.PathError{Op: "fsync", Path: path, Err: err}
			}
			break
		}
		data := buf[:total]
		count := binary.BigEndian.Uint32(data[12:16])
		body := data[batchHdrSize:]
		p := 0
		for i := uint32(0); i < count; i++ {
			if len(body)-p < recHdrSize {
				return nil, corruptJournalError(path, off, "malformed batch")
			}
			kind := body[p]
			ulen := int(body[p+1])
			seq := binary.BigEndian.Uint64(body[p+2 : p+10])
			slen := int(binary.BigEndian.Uint32(body[p+10 : p+14]))
			p += recHdrSize
			if (kind != kindPut && kind != kindDelete) || slen < minSealed || slen > maxSealedRecord || len(body)-p < ulen+slen {
				return nil, corruptJournalError(path, off, "malformed record")
			}
			user := string(body[p : p+ulen])
			p += ulen
			if ValidUser(user) != nil {
				return nil, corruptJournalError(path, off, "record with an invalid user name")
			}
			rec := replayedRec{j: j, kind: kind, user: user, seq: seq, off: off + int64(batchHdrSize+p), n: uint32(slen), sealed: body[p : p+slen]}
			p += slen
			if err := fn(rec); err != nil {
				return nil, err
			}
			j.records++
		}
		if p != len(body) {
			return nil, corruptJournalError(path, off, "batch length does not match its records")
		}
		off += int64(total)
	}
	j.size = off
	ok = true
	return j, nil
}

// readRange reads [from, to) of fd.
func readRange(fd int, from, to int64) ([]byte, error) {
	b := make([]byte, to-from)
	return b, preadFull(fd, b, from)
}

// createJournal makes a new journal file crash-safely and returns it, open
// for writing after its header: the header is written to a temporary file,
// fdatasync'ed and renamed into place, and the directory is fsync'ed, so a
// journal file always has a valid header.
func createJournal(dirfd int, dirPath string, gen, baseSeq uint64) (*journal, error) {
	name := journalName(gen)
	if err := writeFileAt(dirfd, dirPath, name, encodeJournalHeader(gen, baseSeq)); err != nil {
		return nil, fmt.Errorf("store: creating journal: %w", err)
	}
	if err := unix.Fsync(dirfd); err != nil {
		return nil, &os.PathError{Op: "fsync", Path: dirPath, Err: err}
	}
	path := filepath.Join(dirPath, name)
	fd, _, err := openRegularAt(dirfd, name, path, unix.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("store: journal: %w", err)
	}
	return &journal{gen: gen, baseSeq: baseSeq, fd: fd, path: path, name: name, size: journalHdrSize}, nil
}

// errJournalBroken is wrapped when a failed write could not be undone.
var errJournalBroken = errors.New("store: journal is in an unknown state after a failed write; restart totpd")
