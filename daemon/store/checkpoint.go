package store

// Checkpoints: when the journal has grown past Options.CheckpointBytes the
// writer starts a new journal generation, and a background goroutine moves
// the latest record of every user in the older journals into users/<name>
// snapshots, then unlinks those journals. A failed checkpoint is logged and
// retried after checkpointRetry.

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// checkpointRetry is how long after a failed rotation or checkpoint the
// next attempt waits.
const checkpointRetry = 10 * time.Second

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

// startCheckpoint runs checkpoint in a background goroutine (waited for by
// s.ckptWG); a failure is logged and delays the next try by
// checkpointRetry.
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
