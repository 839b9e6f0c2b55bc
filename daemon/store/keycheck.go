package store

// The key check: dir/keycheck holds a known text sealed under the master
// key, so that Open fails with ErrWrongKey on a wrong key instead of
// reporting every user's record as tampered.

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

const (
	keyCheckName  = "keycheck"
	keyCheckMagic = "TOTPDKC1"
	keyCheckText  = "totpd master key check v1"
)

// keyHint returns what to do about a wrong master key, naming where the key
// came from.
func (s *Store) keyHint() string {
	if s.opts.KeySource != "" {
		return "restore " + s.opts.KeySource + " or the totpd.key credential"
	}
	return "restore the master key file (default /etc/totpd/master.key) or the totpd.key credential"
}

// wrongKeyError returns Open's error for a key that does not match the
// state: it wraps ErrWrongKey.
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
