package hostkit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
)

// PAMDir is where PAM services live.
const PAMDir = "/etc/pam.d"

// ServiceName reports prefix-XXXXXX (six random hex digits): the name of
// a PAM service of one's own that no shipped file and no other run uses.
func ServiceName(prefix string) string {
	var r [3]byte
	_, _ = rand.Read(r[:])
	return prefix + "-" + hex.EncodeToString(r[:])
}

// WritePAMService writes text as the new PAM service name, /etc/pam.d/name
// (0644), and reports its path. A file already there is an error, never
// replaced: the machine's own services stay as they are. On an error
// nothing is left; removing the file afterwards is the caller's.
func WritePAMService(name, text string) (string, error) {
	path := filepath.Join(PAMDir, name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", err
	}
	_, err = f.WriteString(text)
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(path)
		return "", err
	}
	return path, nil
}
