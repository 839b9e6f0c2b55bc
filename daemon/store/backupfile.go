package store

// The backup file's opening rules, in one place: totpctl opens FILE with
// them and passes the descriptor to the daemon (SCM_RIGHTS), which checks
// what it received with CheckBackupFile. The daemon never opens a path an
// administrator names: it runs with a read-only file system except its own
// directories, and a root daemon writing where a member of admin_group
// says would write anywhere.

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// CreateBackupFile creates path for a backup: a new file (an existing one
// is never overwritten), mode 0600, not through a symbolic link.
func CreateBackupFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|openFlags, 0o600)
	switch {
	case errors.Is(err, unix.EEXIST):
		return nil, fmt.Errorf("%s exists already; a backup never overwrites a file: name a new one", path)
	case err != nil:
		return nil, &os.PathError{Op: "create", Path: path, Err: err}
	}
	// O_NONBLOCK only kept the open from waiting; writes to a regular
	// file never block anyway, but the daemon need not see it.
	if err := setBlocking(fd); err != nil {
		unix.Close(fd)
		_ = unix.Unlink(path)
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// OpenBackupFile opens the backup at path for reading: a regular file,
// not through a symbolic link, and never waited on (a FIFO is refused).
func OpenBackupFile(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|openFlags, 0)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%s is a symbolic link; refusing to follow it: name the file itself", path)
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	if err := CheckBackupFile(f, false); err != nil {
		f.Close()
		return nil, err
	}
	if err := setBlocking(fd); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "fcntl", Path: path, Err: err}
	}
	return f, nil
}

// CheckBackupFile reports why f cannot be what a backup is written to
// (write: an empty regular file open for writing) or read from (a regular
// file open for reading), or nil.
func CheckBackupFile(f *os.File, write bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("%s is a %s, not a regular file", f.Name(), fileKind(st.Mode))
	}
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return &os.PathError{Op: "fcntl", Path: f.Name(), Err: err}
	}
	acc := fl & unix.O_ACCMODE
	switch {
	case write && acc != unix.O_WRONLY && acc != unix.O_RDWR:
		return fmt.Errorf("%s is not open for writing", f.Name())
	case write && st.Size != 0:
		return fmt.Errorf("%s is not empty (%d bytes); a backup goes to a new file", f.Name(), st.Size)
	case !write && acc != unix.O_RDONLY && acc != unix.O_RDWR:
		return fmt.Errorf("%s is not open for reading", f.Name())
	}
	return nil
}

// setBlocking clears O_NONBLOCK on fd.
func setBlocking(fd int) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	return err
}
