package store

// The writer: Put and Delete queue sealed records, and one goroutine
// appends everything queued to the current journal as one batch with one
// write and one fdatasync (group commit), then answers every waiting caller.

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// enqueue queues one sealed record for the writer and returns, once the
// writer has written and fdatasync'ed its batch, the batch's error: nil
// means the record is durable. It returns ErrClosed after Close.
func (s *Store) enqueue(kind byte, user string, seq uint64, sealed []byte) error {
	return s.submit(&pendingRec{kind: kind, user: user, seq: seq, sealed: sealed, done: make(chan error, 1)})
}

// submit queues p for the writer, wakes it and returns p's answer, or
// ErrClosed after Close.
func (s *Store) submit(p *pendingRec) error {
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
			if s.queue[n].run != nil { // a step of Replace (replace.go) goes alone
				n = max(n, 1)
				break
			}
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
		if run := batch[0].run; run != nil {
			batch[0].done <- run() // no write in flight: the journal is complete
			clear(batch)
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

// commit writes batch to the current journal as one framed batch with one
// pwrite and one fdatasync, then points the index at its records. It
// returns the error that every Put of the batch gets: on failure the
// journal is cut back (undo), and once that failed too every later commit
// returns s.broken.
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
		err = s.fdatasync(j.fd)
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

// fdatasync is unix.Fdatasync of the journal, timed for Options.SyncObserver.
func (s *Store) fdatasync(fd int) error {
	obs := s.opts.SyncObserver
	if obs == nil {
		return unix.Fdatasync(fd)
	}
	start := time.Now()
	err := unix.Fdatasync(fd)
	obs(time.Since(start))
	return err
}

// maxBatchBytes bounds one batch (well under maxBatchBody). A variable only
// so that TestBatchSplit can make batches small; nothing else changes it.
var maxBatchBytes = 8 << 20

// journalFault is the one test seam in the store's production code: a
// func(op string) error that, when set, is asked before the writer's
// journal "write", "fdatasync" and "truncate" and makes that operation fail
// with what it returns. Nothing in production sets it; it is nil and fault
// returns nil. It cannot live in a test file because no file system can be
// made to fail exactly one pwrite, fdatasync or ftruncate of one file on
// demand, and TestJournalWriteFailures (through setJournalFault in
// export_test.go) needs exactly that to prove a failed write is undone or
// refuses every later Put. The crash tests do not use it: they kill a real
// process (crash_test.go, e2e TestDurabilityKill), and the disk-full tests
// fill a real tmpfs (fault_test.go).
var journalFault atomic.Value // of func(op string) error

// fault returns the error journalFault injects into op, or nil.
func fault(op string) error {
	if f, _ := journalFault.Load().(func(string) error); f != nil {
		return f(op)
	}
	return nil
}

// undo cuts the journal back to its last good end after a failed write and
// returns the error for the batch's Puts. If the journal cannot be cut
// back, it also sets s.broken, which refuses every later Put.
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
