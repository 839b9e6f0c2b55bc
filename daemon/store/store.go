package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/totpd/totpd/daemon/logf"

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
	// failed), one line per call, each starting "store: ". The store logs
	// through nothing else. Default: stderrLogf, which writes
	// "totpd: store: ..." lines to os.Stderr as the daemon writes its own.
	Logf func(format string, args ...any)
	// SyncObserver, when set, is told how long each fdatasync of the
	// journal took (the metric totpd_store_sync_seconds); it runs on the
	// writer goroutine, so it must be quick. nil: nothing is measured.
	SyncObserver func(time.Duration)
}

// stderrLogf is the Logf of a Store opened without one, in the form of
// the daemon's own lines, so that the store's notices read "totpd: store: ...".
var stderrLogf = logf.Stderr

const (
	defaultCheckpointBytes   = 16 << 20
	defaultCheckpointWorkers = 8
	usersDirName             = "users"
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
// master key and returns the Store, ready for use. It takes an exclusive
// lock on dir, checks the key against dir/keycheck, removes temporary files
// left by a crash, and replays the journal. A wrong key is an error wrapping
// ErrWrongKey.
func Open(dir string, key []byte, opts Options) (*Store, error) {
	if opts.CheckpointBytes <= 0 {
		opts.CheckpointBytes = defaultCheckpointBytes
	}
	if opts.CheckpointWorkers <= 0 {
		opts.CheckpointWorkers = defaultCheckpointWorkers
	}
	logf := opts.Logf
	if logf == nil {
		logf = stderrLogf
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

// Advice in corrupt-state errors.
const (
	fixSnapshot = "Restore the file from a backup, or remove it to reset the user (who then enrolls again)"
	fixJournal  = "Restore the state directory from a backup; storing a new record for the user replaces the damaged one"
)

// corrupt returns the ErrCorrupt error for user: what is wrong, and fix,
// what the administrator can do about it.
func (s *Store) corrupt(user, what, fix string) error {
	return fmt.Errorf("%w: user %q: %s; denying this user. %s", ErrCorrupt, user, what, fix)
}

// decode authenticates and decodes one sealed record of user. It returns
// the record and true, or false for an authenticated delete marker; where
// and fix are for the error.
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
	if !s.stopWriter() {
		return ErrClosed
	}
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

// stopWriter refuses further updates, lets the writer finish what is
// queued and waits for it and any checkpoint; it reports false when the
// store was already closing.
func (s *Store) stopWriter() bool {
	s.qmu.Lock()
	if s.closing {
		s.qmu.Unlock()
		return false
	}
	s.closing = true
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.writerDone
	s.ckptWG.Wait()
	return true
}

// closeFDs closes every journal, users/ and the state directory (which
// releases the lock) and forgets the index.
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
