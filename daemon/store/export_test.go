package store

// Test-only access to the store's internals, for the package's tests.

import "golang.org/x/sys/unix"

// setJournalFault makes the writer's journal operations ("write",
// "fdatasync", "truncate") fail with what f returns for them; nil puts the
// real ones back. See journalFault.
func setJournalFault(f func(op string) error) { journalFault.Store(f) }

// writeSnapshot replaces users/<user> from its journal record, as a
// checkpoint would, and returns the error.
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

// abandon closes the files without a checkpoint, as a crash would leave
// them.
func (s *Store) abandon() {
	s.stopWriter()
	s.mu.Lock()
	s.closed = true
	s.closeFDs()
	s.mu.Unlock()
}
