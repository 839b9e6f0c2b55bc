package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Options tunes a Store. The zero value is fine.
type Options struct {
	// CheckpointBytes is the journal size that starts a background
	// checkpoint. Default 16 MiB: a checkpoint writes one snapshot per
	// distinct user in the journal, so a longer journal spreads that cost
	// over more updates of the same users, while replaying 16 MiB at
	// start stays well under the 200 ms start goal.
	CheckpointBytes int64
	// CheckpointWorkers is how many snapshot files a checkpoint writes in
	// parallel. Default 8.
	CheckpointWorkers int
	// KeySource names where the master key came from, for the wrong-key
	// message (e.g. "/etc/totpd/master.key"). Optional.
	KeySource string
	// Logf receives notices (torn tail dropped, mode fixed, checkpoint
	// failed). Default log.Printf.
	Logf func(format string, args ...any)
}

const (
	defaultCheckpointBytes = 16 << 20
	usersDirName           = "users"
	keyCheckName           = "keycheck"
	keyCheckMagic          = "TOTPDKC1"
	keyCheckText           = "totpd master key check v1"
	snapMagic              = "TOTPDSN1"
	snapHdrSize            = 8 + 1 + 8 // magic | kind | seq
	checkpointRetry        = 10 * time.Second
)

// entry locates the latest journal record of a user.
type entry struct {
	j    *journal
	off  int64
	n    uint32
	seq  uint64
	kind byte
}

// Store is the daemon's persistent state. All methods are safe for
// concurrent use; Puts for the same user must not run concurrently (the
// caller serialises them per user).
type Store struct {
	dir       string
	usersPath string
	opts      Options
	logf      func(string, ...any)
	sealer    *sealer
	dirfd     int // state dir, flock'ed
	usersfd   int

	seq atomic.Uint64 // last sequence number issued

	mu       sync.RWMutex // guards everything below and the fds against Close
	index    map[string]entry
	journals []*journal // oldest first; the last one is written
	closed   bool
	ckptGen  uint64 // bumped when a checkpoint drops index entries

	qmu        sync.Mutex
	queue      []*pendingRec
	closing    bool
	wake       chan struct{}
	writerDone chan struct{}

	// owned by the writer goroutine (and by Close once it has stopped)
	wbuf   []byte
	woffs  []int
	broken error

	ckptMu      sync.Mutex
	ckptRunning atomic.Bool
	ckptWG      sync.WaitGroup
	retryAt     atomic.Int64 // unix ns before which no checkpoint is retried
}

// Open opens (creating if needed) the state directory dir with the 32-byte
// master key. It takes an exclusive lock on dir, checks the key against
// dir/keycheck, removes temporary files left by a crash, and replays the
// journal. A wrong key is an error wrapping ErrWrongKey.
func Open(dir string, key []byte, opts Options) (*Store, error) {
	if opts.CheckpointBytes <= 0 {
		opts.CheckpointBytes = defaultCheckpointBytes
	}
	if opts.CheckpointWorkers <= 0 {
		opts.CheckpointWorkers = 8
	}
	logf := opts.Logf
	if logf == nil {
		logf = log.Printf
	}
	sl, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	dirfd, err := openStateDir(dir, logf)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{
		dir:       dir,
		usersPath: filepath.Join(dir, usersDirName),
		opts:      opts,
		logf:      logf,
		sealer:    sl,
		dirfd:     dirfd,
		usersfd:   -1,
		index:     make(map[string]entry),
		wake:      make(chan struct{}, 1),
	}
	ok := false
	defer func() {
		if !ok {
			s.closeFDs()
		}
	}()
	if err := unix.Flock(dirfd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("store: state directory %s is in use by another totpd process", dir)
		}
		return nil, fmt.Errorf("store: locking %s: %w", dir, err)
	}
	if s.usersfd, err = openSubdir(dirfd, usersDirName, s.usersPath, logf); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := removeTemps(dirfd, dir, logf); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := removeTemps(s.usersfd, s.usersPath, logf); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	haveKeyCheck, err := s.checkKey()
	if err != nil {
		return nil, err
	}
	if err := s.replay(); err != nil {
		return nil, err
	}
	if !haveKeyCheck {
		if err := s.initKeyCheck(); err != nil {
			return nil, err
		}
	}
	s.writerDone = make(chan struct{})
	go s.writer()
	if len(s.journals) > 1 {
		// A checkpoint was interrupted: finish it in the background.
		s.startCheckpoint()
	}
	ok = true
	return s, nil
}

// replay reads every journal, oldest first, into the index.
func (s *Store) replay() error {
	names, err := readDirNames(s.dirfd, s.dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	var gens []uint64
	for _, n := range names {
		if g, ok := parseJournalName(n); ok {
			gens = append(gens, g)
		} else if len(n) >= len(journalPrefix) && n[:len(journalPrefix)] == journalPrefix {
			s.logf("store: ignoring %s: not a journal file name", filepath.Join(s.dir, n))
		}
	}
	slices.Sort(gens)
	var maxSeq uint64
	for i, g := range gens {
		j, err := replayJournal(s.dirfd, s.dir, journalName(g), g, i == len(gens)-1, s.logf, func(r replayedRec) error {
			if r.seq > maxSeq {
				maxSeq = r.seq
			}
			if old, ok := s.index[r.user]; ok && old.seq >= r.seq {
				return nil
			}
			s.index[r.user] = entry{j: r.j, off: r.off, n: r.n, seq: r.seq, kind: r.kind}
			return nil
		})
		if err != nil {
			return err
		}
		s.journals = append(s.journals, j)
		if j.baseSeq > 0 && j.baseSeq-1 > maxSeq {
			maxSeq = j.baseSeq - 1
		}
	}
	if len(s.journals) == 0 {
		j, err := createJournal(s.dirfd, s.dir, 1, maxSeq+1)
		if err != nil {
			return err
		}
		s.journals = append(s.journals, j)
	}
	s.seq.Store(maxSeq)
	return nil
}

func (s *Store) keyHint() string {
	if s.opts.KeySource != "" {
		return "restore " + s.opts.KeySource + " or the totpd.key credential"
	}
	return "restore the master key file (default /etc/totpd/master.key) or the totpd.key credential"
}

func (s *Store) wrongKeyError() error {
	return fmt.Errorf("%w: master key does not match the state in %s: was the key file replaced? %s", ErrWrongKey, s.dir, s.keyHint())
}

// checkKey verifies the master key against dir/keycheck. It reports false
// if the file does not exist.
func (s *Store) checkKey() (bool, error) {
	path := filepath.Join(s.dir, keyCheckName)
	fd, st, err := openRegularAt(s.dirfd, keyCheckName, path, unix.O_RDONLY, 0)
	if errors.Is(err, unix.ENOENT) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %w", err)
	}
	defer unix.Close(fd)
	damaged := func(why string) error {
		return fmt.Errorf("store: key check file %s is damaged (%s); if the master key is the right one, remove the file and start again: "+
			"it is recreated after checking the key against the stored records", path, why)
	}
	if st.Size > 4096 {
		return false, damaged(fmt.Sprintf("%d bytes", st.Size))
	}
	b, err := readAllFD(fd, st.Size)
	if err != nil {
		return false, fmt.Errorf("store: reading %s: %w", path, err)
	}
	if len(b) < len(keyCheckMagic)+minSealed || string(b[:len(keyCheckMagic)]) != keyCheckMagic {
		return false, damaged(fmt.Sprintf("%d bytes, no valid header", len(b)))
	}
	pt, err := s.sealer.open(purposeKeyCheck, "", 0, b[len(keyCheckMagic):])
	if err != nil {
		return false, s.wrongKeyError()
	}
	if string(pt) != keyCheckText {
		return false, damaged("unexpected contents")
	}
	return true, nil
}

// initKeyCheck writes dir/keycheck. If state exists already (the file was
// lost), the key is first checked against a few stored records.
func (s *Store) initKeyCheck() error {
	tried, good := 0, 0
	for u, e := range s.index {
		if tried >= 8 {
			break
		}
		tried++
		buf := make([]byte, e.n)
		if preadFull(e.j.fd, buf, e.off) != nil {
			continue
		}
		purpose := purposeRecord
		if e.kind == kindDelete {
			purpose = purposeDelete
		}
		if _, err := s.sealer.open(purpose, u, e.seq, buf); err == nil {
			good++
			break
		}
	}
	if good == 0 {
		names, err := readDirNames(s.usersfd, s.usersPath)
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		for _, n := range names {
			if good > 0 || tried >= 16 {
				break
			}
			if ValidUser(n) != nil {
				continue
			}
			tried++
			if _, _, err := s.readSnapshot(n); err == nil {
				good++
			}
		}
	}
	if tried > 0 && good == 0 {
		return s.wrongKeyError()
	}
	if tried > 0 {
		s.logf("store: %s was missing; the master key matches the stored records, recreating it", filepath.Join(s.dir, keyCheckName))
	}
	data := append([]byte(keyCheckMagic), s.sealer.seal(purposeKeyCheck, "", 0, []byte(keyCheckText))...)
	if err := writeFileAt(s.dirfd, s.dir, keyCheckName, data); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := unix.Fsync(s.dirfd); err != nil {
		return fmt.Errorf("store: fsync %s: %w", s.dir, err)
	}
	return nil
}

// Advice in corrupt-state errors.
const (
	fixSnapshot = "Restore the file from a backup, or remove it to reset the user (who then enrolls again)"
	fixJournal  = "Restore the state directory from a backup; storing a new record for the user replaces the damaged one"
)

func (s *Store) corrupt(user, what, fix string) error {
	return fmt.Errorf("%w: user %q: %s; denying this user. %s", ErrCorrupt, user, what, fix)
}

// decode authenticates and decodes one sealed record of user.
func (s *Store) decode(user string, kind byte, seq uint64, sealed []byte, where, fix string) (Record, bool, error) {
	if kind == kindDelete {
		if _, err := s.sealer.open(purposeDelete, user, seq, sealed); err != nil {
			return Record{}, false, s.corrupt(user, where+" is a delete marker that fails authentication (tampered or damaged)", fix)
		}
		return Record{}, false, nil
	}
	pt, err := s.sealer.open(purposeRecord, user, seq, sealed)
	if err != nil {
		return Record{}, false, s.corrupt(user, where+" fails authentication (tampered, damaged, or copied from another user)", fix)
	}
	defer clear(pt)
	var r Record
	if err := json.Unmarshal(pt, &r); err != nil {
		return Record{}, false, s.corrupt(user, where+" cannot be decoded: "+err.Error(), fix)
	}
	if r.User != user || r.Seq != seq {
		return Record{}, false, s.corrupt(user, where+" holds a record for another user or sequence", fix)
	}
	return r, true, nil
}

// Get returns user's record and whether it exists. An error means the
// state cannot be read or trusted: the caller must deny the user (it is
// never "not enrolled").
func (s *Store) Get(user string) (Record, bool, error) {
	if err := ValidUser(user); err != nil {
		return Record{}, false, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return Record{}, false, ErrClosed
	}
	e, ok := s.index[user]
	if !ok {
		defer s.mu.RUnlock()
		return s.readSnapshot(user)
	}
	buf := make([]byte, e.n)
	err := preadFull(e.j.fd, buf, e.off)
	where := fmt.Sprintf("record in journal %s at byte %d", e.j.path, e.off)
	s.mu.RUnlock()
	if err != nil {
		return Record{}, false, s.corrupt(user, fmt.Sprintf("reading the %s: %v", where, err), fixJournal)
	}
	return s.decode(user, e.kind, e.seq, buf, "the "+where, fixJournal)
}

// readSnapshot reads users/<user>. The caller holds s.mu (read) or owns s.
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

// Put stores r as user r.User's record, replacing the previous one, and
// returns once it is durable on disk. r.Seq is ignored: the store assigns
// the next sequence number. An error means the update was not recorded.
func (s *Store) Put(r Record) error {
	if err := ValidUser(r.User); err != nil {
		return err
	}
	seq := s.seq.Add(1)
	r.Seq = seq
	pt, err := json.Marshal(&r)
	if err != nil {
		return fmt.Errorf("store: encoding record of %q: %w", r.User, err)
	}
	defer clear(pt)
	if len(pt)+minSealed > maxSealedRecord {
		return fmt.Errorf("store: record of %q is too large (%d bytes)", r.User, len(pt))
	}
	return s.enqueue(kindPut, r.User, seq, s.sealer.seal(purposeRecord, r.User, seq, pt))
}

// Delete removes user's record durably. Deleting a missing user is not an
// error.
func (s *Store) Delete(user string) error {
	if err := ValidUser(user); err != nil {
		return err
	}
	seq := s.seq.Add(1)
	return s.enqueue(kindDelete, user, seq, s.sealer.seal(purposeDelete, user, seq, nil))
}

func (s *Store) enqueue(kind byte, user string, seq uint64, sealed []byte) error {
	p := &pendingRec{kind: kind, user: user, seq: seq, sealed: sealed, done: make(chan error, 1)}
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return ErrClosed
	}
	s.queue = append(s.queue, p)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return <-p.done
}

// writer is the single goroutine that appends to the journal: it takes
// everything queued, writes it as one batch, fdatasyncs once and then
// answers every Put of the batch.
func (s *Store) writer() {
	defer close(s.writerDone)
	var batch []*pendingRec
	for {
		s.qmu.Lock()
		// Take what is queued, up to maxBatchBytes: one batch is one
		// write, so that a crash can only tear the last one.
		n, size := 0, 0
		for n < len(s.queue) && (n == 0 || size+len(s.queue[n].sealed) < maxBatchBytes) {
			size += recHdrSize + len(s.queue[n].user) + len(s.queue[n].sealed)
			n++
		}
		if n == len(s.queue) {
			batch, s.queue = s.queue, batch[:0]
		} else {
			batch = append(batch[:0], s.queue[:n]...)
			s.queue = append(s.queue[:0], s.queue[n:]...)
		}
		closing := s.closing
		s.qmu.Unlock()
		if len(batch) == 0 {
			if closing {
				return
			}
			<-s.wake
			continue
		}
		err := s.commit(batch)
		for _, p := range batch {
			p.done <- err
		}
		clear(batch)
		if err == nil {
			s.maybeCheckpoint()
		}
	}
}

// current returns the journal being written. Only the writer (or Close,
// after the writer stopped) changes s.journals' last element.
func (s *Store) current() *journal {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.journals[len(s.journals)-1]
}

func (s *Store) commit(batch []*pendingRec) error {
	if s.broken != nil {
		return s.broken
	}
	j := s.current()
	b := append(s.wbuf[:0], make([]byte, batchHdrSize)...)
	offs := s.woffs[:0]
	for _, p := range batch {
		var off int
		b, off = appendRecord(b, p.kind, p.user, p.seq, p.sealed)
		offs = append(offs, off)
	}
	binary.BigEndian.PutUint32(b[0:4], batchMagic)
	binary.BigEndian.PutUint32(b[4:8], uint32(len(b)-batchHdrSize))
	binary.BigEndian.PutUint32(b[12:16], uint32(len(batch)))
	binary.BigEndian.PutUint32(b[8:12], crc32Castagnoli(b[12:]))
	if cap(b) <= 1<<20 {
		s.wbuf, s.woffs = b, offs
	} else {
		s.wbuf, s.woffs = nil, nil
	}
	err := fault("write")
	if err == nil {
		err = pwriteAll(j.fd, b, j.size)
	}
	if err != nil {
		return s.undo(j, "write", err)
	}
	if err = fault("fdatasync"); err == nil {
		err = unix.Fdatasync(j.fd)
	}
	if err != nil {
		return s.undo(j, "fdatasync", err)
	}
	base := j.size
	s.mu.Lock()
	j.size += int64(len(b))
	j.records += len(batch)
	for i, p := range batch {
		if old, ok := s.index[p.user]; ok && old.seq >= p.seq {
			continue
		}
		s.index[p.user] = entry{j: j, off: base + int64(offs[i]), n: uint32(len(p.sealed)), seq: p.seq, kind: p.kind}
	}
	s.mu.Unlock()
	return nil
}

// maxBatchBytes bounds one batch (well under maxBatchBody); a var for tests.
var maxBatchBytes = 8 << 20

// testFault, set only by tests, makes the named journal operation fail.
var testFault atomic.Value // of func(op string) error

func fault(op string) error {
	if f, _ := testFault.Load().(func(string) error); f != nil {
		return f(op)
	}
	return nil
}

// undo cuts the journal back to its last good end after a failed write.
func (s *Store) undo(j *journal, op string, err error) error {
	werr := fmt.Errorf("store: %s of journal %s failed, the update was not saved: %w", op, j.path, err)
	terr := fault("truncate")
	if terr == nil {
		terr = unix.Ftruncate(j.fd, j.size)
	}
	if terr == nil {
		terr = unix.Fdatasync(j.fd)
	}
	if terr != nil {
		s.broken = fmt.Errorf("%w: %v (and cutting it back failed: %v)", errJournalBroken, werr, terr)
		s.logf("%v", s.broken)
	}
	return werr
}

// maybeCheckpoint runs in the writer after each batch: when the journal is
// big enough it starts a new generation and checkpoints the old one in the
// background. If a checkpoint failed, the old journals stay and the
// checkpoint is retried (without starting yet more journals) after a delay.
func (s *Store) maybeCheckpoint() {
	if s.ckptRunning.Load() || time.Now().UnixNano() < s.retryAt.Load() {
		return
	}
	s.mu.RLock()
	j, n := s.journals[len(s.journals)-1], len(s.journals)
	s.mu.RUnlock()
	if n == 1 {
		if j.size < s.opts.CheckpointBytes {
			return
		}
		if err := s.rotate(); err != nil {
			s.logf("store: starting a new journal failed, will retry: %v", err)
			s.retryAt.Store(time.Now().Add(checkpointRetry).UnixNano())
			return
		}
	}
	s.startCheckpoint()
}

func (s *Store) startCheckpoint() {
	s.ckptRunning.Store(true)
	s.ckptWG.Add(1)
	go func() {
		defer s.ckptWG.Done()
		defer s.ckptRunning.Store(false)
		if err := s.checkpoint(); err != nil {
			s.logf("store: checkpoint failed (the journal keeps everything; retrying in %v): %v", checkpointRetry, err)
			s.retryAt.Store(time.Now().Add(checkpointRetry).UnixNano())
		}
	}()
}

// rotate starts a new journal generation; later batches go there.
func (s *Store) rotate() error {
	cur := s.current()
	nj, err := createJournal(s.dirfd, s.dir, cur.gen+1, s.seq.Load()+1)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.journals = append(s.journals, nj)
	s.mu.Unlock()
	return nil
}

// checkpoint writes a snapshot for every user whose latest record is in a
// journal older than the current one, then removes those journals.
func (s *Store) checkpoint() error {
	s.ckptMu.Lock() // one at a time
	defer s.ckptMu.Unlock()
	type item struct {
		user string
		e    entry
	}
	s.mu.RLock()
	cur := s.journals[len(s.journals)-1]
	olds := slices.Clone(s.journals[:len(s.journals)-1])
	var items []item
	for u, e := range s.index {
		if e.j != cur {
			items = append(items, item{u, e})
		}
	}
	s.mu.RUnlock()
	if len(olds) == 0 {
		return nil
	}
	// Phase 1, in parallel: the new contents go to temporary files, each
	// fdatasync'ed (concurrent fsyncs share the file system's journal
	// commits). A single syncfs instead would also flush every other
	// process's dirty data on the file system, which measured worse.
	type action struct {
		user, tmp string // tmp == "": remove users/<user>
	}
	acts := make([]action, len(items))
	next := atomic.Int64{}
	var (
		wg    sync.WaitGroup
		errMu sync.Mutex
		errs  []error
	)
	for range s.opts.CheckpointWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(items) {
					return
				}
				tmp, err := s.prepareSnapshot(items[i].user, items[i].e)
				if err != nil {
					errMu.Lock()
					errs = append(errs, err)
					errMu.Unlock()
					next.Store(int64(len(items))) // stop the others
					return
				}
				acts[i] = action{items[i].user, tmp}
			}
		}()
	}
	wg.Wait()
	cleanup := func() {
		for _, a := range acts {
			if a.tmp != "" {
				_ = unix.Unlinkat(s.usersfd, a.tmp, 0)
			}
		}
	}
	if len(errs) > 0 {
		cleanup()
		return errors.Join(errs...)
	}
	// Phase 2: put them in place, then make the directory durable.
	for i, a := range acts {
		var err error
		if a.tmp != "" {
			err = renameTemp(s.usersfd, s.usersPath, a.tmp, a.user)
		} else if e := unix.Unlinkat(s.usersfd, a.user, 0); e != nil && !errors.Is(e, unix.ENOENT) {
			err = &os.PathError{Op: "remove", Path: filepath.Join(s.usersPath, a.user), Err: e}
		}
		if err != nil {
			for _, rest := range acts[i+1:] {
				if rest.tmp != "" {
					_ = unix.Unlinkat(s.usersfd, rest.tmp, 0)
				}
			}
			return err
		}
	}
	if err := unix.Fsync(s.usersfd); err != nil {
		return &os.PathError{Op: "fsync", Path: s.usersPath, Err: err}
	}
	s.mu.Lock()
	for _, it := range items {
		if e, ok := s.index[it.user]; ok && e == it.e {
			delete(s.index, it.user)
		}
	}
	s.journals = slices.DeleteFunc(s.journals, func(j *journal) bool { return slices.Contains(olds, j) })
	s.ckptGen++
	s.mu.Unlock()
	// Nothing refers to the old journals any more.
	var err error
	for _, j := range olds {
		if e := unix.Unlinkat(s.dirfd, j.name, 0); e != nil && !errors.Is(e, unix.ENOENT) {
			err = errors.Join(err, &os.PathError{Op: "remove", Path: j.path, Err: e})
		}
	}
	if e := unix.Fsync(s.dirfd); e != nil {
		err = errors.Join(err, &os.PathError{Op: "fsync", Path: s.dir, Err: e})
	}
	for _, j := range olds {
		unix.Close(j.fd)
	}
	return err
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

// writeSnapshot replaces users/<user> from its journal record (tests).
func (s *Store) writeSnapshot(user string, e entry) error {
	tmp, err := s.prepareSnapshot(user, e)
	if err != nil || tmp == "" {
		if err == nil {
			err = unix.Unlinkat(s.usersfd, user, 0)
		}
		return err
	}
	return renameTemp(s.usersfd, s.usersPath, tmp, user)
}

// Users returns every user with a record, sorted.
func (s *Store) Users() ([]string, error) {
	for {
		s.mu.RLock()
		if s.closed {
			s.mu.RUnlock()
			return nil, ErrClosed
		}
		gen := s.ckptGen
		inJournal := make(map[string]bool, len(s.index))
		for u, e := range s.index {
			inJournal[u] = e.kind == kindPut
		}
		fd, err := unix.Openat(s.usersfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		s.mu.RUnlock()
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: s.usersPath, Err: err}
		}
		f := os.NewFile(uintptr(fd), s.usersPath)
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return nil, err
		}
		s.mu.RLock()
		same := gen == s.ckptGen
		s.mu.RUnlock()
		if !same {
			continue // a checkpoint moved records from the journal to files meanwhile
		}
		out := make([]string, 0, len(names)+len(inJournal))
		for _, n := range names {
			if ValidUser(n) != nil {
				continue // temporary files
			}
			if _, ok := inJournal[n]; !ok {
				out = append(out, n)
			}
		}
		for u, present := range inJournal {
			if present {
				out = append(out, u)
			}
		}
		sort.Strings(out)
		return out, nil
	}
}

// Close stops accepting updates, waits for those in flight, checkpoints
// the journal into snapshots and closes the files. The state is durable
// whether or not Close is called; Close makes the next Open faster.
func (s *Store) Close() error {
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return ErrClosed
	}
	s.closing = true
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.writerDone
	s.ckptWG.Wait()
	err := s.broken
	if err == nil && (len(s.journals) > 1 || s.current().records > 0) {
		if err = s.rotate(); err == nil {
			err = s.checkpoint()
		}
	}
	s.mu.Lock()
	s.closed = true
	s.closeFDs()
	s.mu.Unlock()
	return err
}

// abandon closes the files without a checkpoint, as a crash would leave
// them (tests).
func (s *Store) abandon() {
	s.qmu.Lock()
	s.closing = true
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.writerDone
	s.ckptWG.Wait()
	s.mu.Lock()
	s.closed = true
	s.closeFDs()
	s.mu.Unlock()
}

func (s *Store) closeFDs() {
	for _, j := range s.journals {
		unix.Close(j.fd)
	}
	s.journals = nil
	s.index = nil
	if s.usersfd >= 0 {
		unix.Close(s.usersfd)
		s.usersfd = -1
	}
	if s.dirfd >= 0 {
		unix.Close(s.dirfd) // releases the flock
		s.dirfd = -1
	}
}
