package store

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Flags used for every open of a state file: never follow a symlink in the
// last component, never block on a FIFO, never leak into children.
const openFlags = unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC

const tmpPrefix = ".tmp-"

// fileKind describes the type bits of a mode for messages.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFLNK:
		return "symbolic link"
	case unix.S_IFIFO:
		return "FIFO"
	case unix.S_IFSOCK:
		return "socket"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	}
	return fmt.Sprintf("file of type %#o", mode&unix.S_IFMT)
}

// explainOpenErr turns ELOOP/ENOTDIR from an O_NOFOLLOW open into a clear
// message about what is planted at path.
func explainOpenErr(dirfd int, name, path string, err error) error {
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENXIO) {
		var st unix.Stat_t
		if e := unix.Fstatat(dirfd, name, &st, unix.AT_SYMLINK_NOFOLLOW); e == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return fmt.Errorf("%s is a symbolic link; refusing to follow it", path)
			}
			return fmt.Errorf("%s is a %s, not what belongs there; refusing to use it", path, fileKind(st.Mode))
		}
	}
	return &os.PathError{Op: "open", Path: path, Err: err}
}

// openRegularAt opens dirfd/name without following symlinks or blocking,
// and fails unless it is a regular file. The caller closes the fd.
func openRegularAt(dirfd int, name, path string, flags int, perm uint32) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	fd, err := unix.Openat(dirfd, name, flags|openFlags, perm)
	if err != nil {
		return -1, st, explainOpenErr(dirfd, name, path, err)
	}
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, st, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return -1, st, fmt.Errorf("%s is a %s, not a regular file; refusing to use it", path, fileKind(st.Mode))
	}
	return fd, st, nil
}

// checkDirFD verifies that fd is a directory owned by us and tightens a
// loose mode to 0700.
func checkDirFD(fd int, path string, logf func(string, ...any)) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is a %s, not a directory", path, fileKind(st.Mode))
	}
	if euid := uint32(os.Geteuid()); st.Uid != euid {
		return fmt.Errorf("%s is owned by uid %d, not by uid %d that runs totpd; fix with: chown %d %s", path, st.Uid, euid, euid, path)
	}
	if st.Mode&0o7077 != 0 {
		if err := unix.Fchmod(fd, 0o700); err != nil {
			return fmt.Errorf("%s has mode %#o and could not be set to 0700: %w", path, st.Mode&0o7777, err)
		}
		logf("store: %s had mode %#o, set it to 0700", path, st.Mode&0o7777)
	}
	return nil
}

// openStateDir opens (creating 0700 if missing) the state directory.
func openStateDir(path string, logf func(string, ...any)) (int, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open(path, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return -1, err
		}
		if err := unix.Mkdir(path, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, &os.PathError{Op: "mkdir", Path: path, Err: err}
		}
		if d, err := unix.Open(filepath.Dir(path), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			_ = unix.Fsync(d)
			unix.Close(d)
		}
		fd, err = unix.Open(path, flags, 0)
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if e := unix.Lstat(path, &st); e == nil {
				return -1, fmt.Errorf("state directory %s is a %s; refusing to follow it", path, fileKind(st.Mode))
			}
		}
		return -1, &os.PathError{Op: "open", Path: path, Err: err}
	}
	if err := checkDirFD(fd, path, logf); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// openSubdir opens (creating 0700 if missing) dirfd/name.
func openSubdir(dirfd int, name, path string, logf func(string, ...any)) (int, error) {
	flags := unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dirfd, name, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		if err := unix.Mkdirat(dirfd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
			return -1, &os.PathError{Op: "mkdir", Path: path, Err: err}
		}
		if err := unix.Fsync(dirfd); err != nil {
			return -1, &os.PathError{Op: "fsync", Path: filepath.Dir(path), Err: err}
		}
		fd, err = unix.Openat(dirfd, name, flags, 0)
	}
	if err != nil {
		return -1, explainOpenErr(dirfd, name, path, err)
	}
	if err := checkDirFD(fd, path, logf); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func randSuffix() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func pwriteAll(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pwrite(fd, b, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return unix.EIO
		}
		b = b[n:]
		off += int64(n)
	}
	return nil
}

func preadFull(fd int, b []byte, off int64) error {
	for len(b) > 0 {
		n, err := unix.Pread(fd, b, off)
		if err != nil {
			return err
		}
		if n == 0 {
			return errShortRead
		}
		b = b[n:]
		off += int64(n)
	}
	return nil
}

var errShortRead = errors.New("unexpected end of file")

// readAllFD reads a whole regular file of the given size.
func readAllFD(fd int, size int64) ([]byte, error) {
	b := make([]byte, size)
	if err := preadFull(fd, b, 0); err != nil {
		return nil, err
	}
	return b, nil
}

// writeTemp writes data to a new temporary file in dirfd, fdatasync'ed,
// and returns its name; renameTemp then puts it in place of name.
func writeTemp(dirfd int, dirPath, name string, data []byte) (string, error) {
	tmp := tmpPrefix + name + "-" + randSuffix()
	if len(tmp) > 255 {
		tmp = tmpPrefix + randSuffix()
	}
	fd, err := unix.Openat(dirfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|openFlags, 0o600)
	if err != nil {
		return "", &os.PathError{Op: "create", Path: filepath.Join(dirPath, tmp), Err: err}
	}
	fail := func(op string, err error) (string, error) {
		unix.Close(fd)
		_ = unix.Unlinkat(dirfd, tmp, 0)
		return "", &os.PathError{Op: op, Path: filepath.Join(dirPath, name), Err: err}
	}
	if err := pwriteAll(fd, data, 0); err != nil {
		return fail("write", err)
	}
	if err := unix.Fdatasync(fd); err != nil {
		return fail("fdatasync", err)
	}
	if err := unix.Close(fd); err != nil {
		_ = unix.Unlinkat(dirfd, tmp, 0)
		return "", &os.PathError{Op: "close", Path: filepath.Join(dirPath, name), Err: err}
	}
	return tmp, nil
}

func renameTemp(dirfd int, dirPath, tmp, name string) error {
	if err := unix.Renameat(dirfd, tmp, dirfd, name); err != nil {
		_ = unix.Unlinkat(dirfd, tmp, 0)
		return &os.PathError{Op: "rename", Path: filepath.Join(dirPath, name), Err: err}
	}
	return nil
}

// writeFileAt replaces dirfd/name with data crash-safely, except for the
// final fsync of the directory, which the caller does (once for many files).
// dirPath is only for messages.
func writeFileAt(dirfd int, dirPath, name string, data []byte) error {
	tmp, err := writeTemp(dirfd, dirPath, name, data)
	if err != nil {
		return err
	}
	return renameTemp(dirfd, dirPath, tmp, name)
}

// readDirNames lists dirfd's entries (without "." and "..").
func readDirNames(dirfd int, path string) ([]string, error) {
	fd, err := unix.Openat(dirfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return f.Readdirnames(-1)
}

// removeTemps removes leftovers of interrupted crash-safe replaces.
func removeTemps(dirfd int, path string, logf func(string, ...any)) error {
	names, err := readDirNames(dirfd, path)
	if err != nil {
		return err
	}
	removed := 0
	for _, n := range names {
		if len(n) >= len(tmpPrefix) && n[:len(tmpPrefix)] == tmpPrefix {
			if err := unix.Unlinkat(dirfd, n, 0); err != nil && !errors.Is(err, unix.ENOENT) {
				return &os.PathError{Op: "remove", Path: filepath.Join(path, n), Err: err}
			}
			removed++
		}
	}
	if removed > 0 {
		logf("store: removed %d unfinished temporary file(s) in %s", removed, path)
		if err := unix.Fsync(dirfd); err != nil {
			return &os.PathError{Op: "fsync", Path: path, Err: err}
		}
	}
	return nil
}
