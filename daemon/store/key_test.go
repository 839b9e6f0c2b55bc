package store

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestLoadMasterKeyCreates(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "etc", "totpd", "master.key")
	k1, err := LoadMasterKey("", keyFile)
	require.NoError(t, err)
	require.Len(t, k1, 32)
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	require.EqualValues(t, 32, fi.Size())
	di, err := os.Stat(filepath.Dir(keyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "a directory it creates is 0700")
	leftovers, err := os.ReadDir(filepath.Dir(keyFile))
	require.NoError(t, err)
	require.Len(t, leftovers, 1, "no temporary file left")

	k2, err := LoadMasterKey("", keyFile)
	require.NoError(t, err)
	require.Equal(t, k1, k2, "the same key on the next start")

	// An empty credentials directory (other credentials only) falls back.
	k3, err := LoadMasterKey(t.TempDir(), keyFile)
	require.NoError(t, err)
	require.Equal(t, k1, k3)

	// The key opens the store it made.
	s := openT(t, t.TempDir(), k1, Options{})
	require.NoError(t, s.Close())
}

func TestLoadMasterKeyCredentialWins(t *testing.T) {
	credDir := t.TempDir()
	want := bytes.Repeat([]byte{0xab}, 32)
	require.NoError(t, os.WriteFile(filepath.Join(credDir, CredentialName), []byte(hex.EncodeToString(want)+"\n"), 0o400))
	keyFile := filepath.Join(t.TempDir(), "master.key")
	require.NoError(t, os.WriteFile(keyFile, bytes.Repeat([]byte{1}, 32), 0o600))
	got, err := LoadMasterKey(credDir, keyFile)
	require.NoError(t, err)
	require.Equal(t, want, got)

	// The credential is used even if no key file is configured, and no key
	// file gets created.
	missing := filepath.Join(t.TempDir(), "none.key")
	got, err = LoadMasterKey(credDir, missing)
	require.NoError(t, err)
	require.Equal(t, want, got)
	require.NoFileExists(t, missing)

	// A bad credential is an error, not a silent fallback.
	require.NoError(t, os.WriteFile(filepath.Join(credDir, CredentialName), []byte("short"), 0o400))
	_, err = LoadMasterKey(credDir, keyFile)
	errContains(t, err, filepath.Join(credDir, CredentialName), "not usable")
}

func TestLoadMasterKeyFormats(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	good := map[string][]byte{
		"raw":               key,
		"hex":               []byte(hex.EncodeToString(key)),
		"hex newline":       []byte(hex.EncodeToString(key) + "\n"),
		"HEX CRLF":          []byte(hex.EncodeToString(key) + "\r\n"),
		"base64 newline":    []byte(base64.StdEncoding.EncodeToString(key) + "\n"),
		"base64":            []byte(base64.StdEncoding.EncodeToString(key)),
		"raw base64":        []byte(base64.RawStdEncoding.EncodeToString(key)),
		"raw newline bytes": append([]byte{'\n'}, key[1:]...),
	}
	good["HEX CRLF"] = bytes.ToUpper(good["HEX CRLF"])
	for name, content := range good {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			require.NoError(t, os.WriteFile(p, content, 0o600))
			got, err := LoadMasterKey("", p)
			require.NoError(t, err)
			if name == "raw newline bytes" {
				require.Equal(t, content, got)
			} else {
				require.Equal(t, key, got)
			}
		})
	}
	bad := []struct {
		name    string
		content []byte
		mention string
	}{
		{"empty", nil, "empty"},
		{"31 raw bytes", key[:31], "31 bytes"},
		{"33 raw bytes", append(append([]byte(nil), key...), 0), "33 bytes"},
		{"63 hex", []byte(hex.EncodeToString(key)[:63]), "63 characters"},
		{"65 hex", []byte(hex.EncodeToString(key) + "0"), "65 characters"},
		{"64 non-hex", bytes.Repeat([]byte("z"), 64), "not hex"},
		{"base64 of 16 bytes", []byte(base64.StdEncoding.EncodeToString(key[:16]) + "\n"), "neither 64 hex"},
		{"two newlines", []byte(hex.EncodeToString(key) + "\n\n"), "not usable"},
		{"passphrase", []byte("correct horse battery staple\n"), "not usable"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			require.NoError(t, os.WriteFile(p, tc.content, 0o600))
			_, err := LoadMasterKey("", p)
			errContains(t, err, p, tc.mention, "32 raw bytes, 64 hex characters or base64")
		})
	}
}

func TestLoadMasterKeyFileChecks(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte{3}, 32), 0o644))
	_, err := LoadMasterKey("", p)
	errContains(t, err, p, "mode 0644", "chmod 600")

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, unix.Mkfifo(fifo, 0o600))
	err = withTimeout(t, func() error { _, err := LoadMasterKey("", fifo); return err })
	errContains(t, err, fifo, "FIFO")

	_, err = LoadMasterKey("", dir)
	errContains(t, err, dir, "directory")

	_, err = LoadMasterKey("", "")
	errContains(t, err, "no master key")

	if os.Geteuid() == 0 {
		require.NoError(t, os.Chmod(p, 0o600))
		require.NoError(t, os.Chown(p, 65534, 65534))
		_, err = LoadMasterKey("", p)
		errContains(t, err, p, "owned by uid 65534")
	}
}
