package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CredentialName is the systemd credential that carries the master key.
const CredentialName = "totpd.key"

// LoadMasterKey returns the 32-byte master key.
//
// If credDir ($CREDENTIALS_DIRECTORY) is set and holds totpd.key, that is
// the key (systemd's LoadCredential=/LoadCredentialEncrypted=). Otherwise
// keyFile is read; if it does not exist it is created 0600 with 32 random
// bytes (its directory 0700 if that must be created too), crash-safely.
//
// A key file may hold the 32 raw bytes, 64 hex characters or standard
// base64 of 32 bytes, each optionally followed by a newline. keyFile must
// be a regular file owned by the daemon's user and not accessible to group
// or others; anything else is an error that says what is wrong.
func LoadMasterKey(credDir, keyFile string) ([]byte, error) {
	if credDir != "" {
		path := filepath.Join(credDir, CredentialName)
		b, err := readKeyFile(path, false)
		if err == nil {
			return parseKey(b, path)
		}
		if !errors.Is(err, unix.ENOENT) {
			return nil, err
		}
	}
	if keyFile == "" {
		return nil, errors.New("store: no master key: no totpd.key credential and no master_key_file configured")
	}
	b, err := readKeyFile(keyFile, true)
	if errors.Is(err, unix.ENOENT) {
		if err := createKeyFile(keyFile); err != nil {
			return nil, err
		}
		b, err = readKeyFile(keyFile, true)
	}
	if err != nil {
		return nil, err
	}
	return parseKey(b, keyFile)
}

func readKeyFile(path string, strict bool) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open master key", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "fstat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("store: master key %s is a %s, not a regular file", path, fileKind(st.Mode))
	}
	if strict {
		if euid := uint32(os.Geteuid()); st.Uid != euid {
			return nil, fmt.Errorf("store: master key %s is owned by uid %d, not by uid %d that runs totpd; fix with: chown %d %s", path, st.Uid, euid, euid, path)
		}
		if st.Mode&0o077 != 0 {
			return nil, fmt.Errorf("store: master key %s has mode %#o: group or others can access it; fix with: chmod 600 %s", path, st.Mode&0o777, path)
		}
	}
	if st.Size > 4096 {
		return nil, fmt.Errorf("store: master key %s is %d bytes; expected 32 raw bytes, 64 hex characters or base64 of 32 bytes", path, st.Size)
	}
	return readAllFD(fd, st.Size)
}

// parseKey accepts 32 raw bytes, 64 hex characters or base64 of 32 bytes,
// optionally followed by a newline.
func parseKey(b []byte, path string) ([]byte, error) {
	if len(b) == 32 {
		return bytes.Clone(b), nil
	}
	t := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(t) == 64 {
		if k, err := hex.DecodeString(string(t)); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(string(t)); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	what := fmt.Sprintf("%d bytes", len(b))
	switch {
	case len(b) == 0:
		what = "empty"
	case len(t) == 64:
		what = "64 characters but not hex"
	case isText(t):
		what = fmt.Sprintf("%d characters of text that are neither 64 hex characters nor base64 of 32 bytes", len(t))
	}
	return nil, fmt.Errorf("store: master key %s is not usable (%s); it must hold 32 raw bytes, 64 hex characters or base64 of 32 bytes "+
		"(e.g. made with: head -c 32 /dev/urandom > %s)", path, what, path)
}

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// createKeyFile writes 32 random bytes to path, 0600, crash-safely and
// without replacing a key that appeared meanwhile.
func createKeyFile(path string) error {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("store: creating the master key's directory: %w", err)
		}
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	tmp := filepath.Join(dir, tmpPrefix+filepath.Base(path)+"-"+randSuffix())
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create master key", Path: tmp, Err: err}
	}
	err = pwriteAll(fd, key, 0)
	if err == nil {
		err = unix.Fchmod(fd, 0o600)
	}
	if err == nil {
		err = unix.Fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err != nil {
		_ = unix.Unlink(tmp)
		return &os.PathError{Op: "write master key", Path: tmp, Err: err}
	}
	// link, unlike rename, fails if another process created the key first.
	err = unix.Link(tmp, path)
	_ = unix.Unlink(tmp)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "create master key", Path: path, Err: err}
	}
	if d, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
		err = unix.Fsync(d)
		unix.Close(d)
		if err != nil {
			return &os.PathError{Op: "fsync", Path: dir, Err: err}
		}
	}
	return nil
}
