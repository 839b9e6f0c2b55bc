package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// maxImportFile bounds what totpctl import reads of a file: a
// ~/.google_authenticator is a few hundred bytes, a usersfile one line
// per user.
const maxImportFile = 1 << 20

// readOwnedFile reads path for import, as root may safely read a file
// another user controls (the lesson of CVE-2024-47191, where pam_oath
// followed a user's symlink as root): the last component is opened with
// O_NOFOLLOW (a symlink is refused, never followed) and O_NONBLOCK (a
// FIFO cannot hang the import); the open file, not the path, is fstat'ed,
// so what is checked is what is read; it must be a regular file owned by
// owner and writable by nobody else (mode g-w, o-w), since anyone who
// could write it could have planted the secret. The error says what is
// wrong and never quotes the contents.
func readOwnedFile(path string, owner uint32) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link; import never follows one (replace it with the file itself)", path)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("%s is not a regular file; import reads only regular files", path)
	}
	if st.Uid != owner {
		return nil, fmt.Errorf("%s is owned by uid %d, not uid %d: import reads only a file owned by %s", path, st.Uid, owner, ownerText(owner))
	}
	if st.Mode&0o022 != 0 {
		return nil, fmt.Errorf("%s is writable by its group or by everyone (mode %04o), so someone else could have written the secret: check it, then chmod go-w %s", path, st.Mode&0o7777, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxImportFile+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(b) > maxImportFile {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a file import reads", path, maxImportFile)
	}
	return b, nil
}

func ownerText(uid uint32) string {
	if uid == 0 {
		return "root"
	}
	return "the user"
}
