package e2e

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
)

// TestStateFaults damages users' snapshot files (written by the
// checkpoint a clean stop makes, see daemon/store/doc.go): each damaged
// user is denied with error code "state" and a log line, never treated as
// not enrolled, and the other users are unaffected.
func TestStateFaults(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	edit := func(f func(b []byte) []byte) func(t *testing.T, path, other string) {
		return func(t *testing.T, path, _ string) {
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Greater(t, len(data), 17)
			require.NoError(t, os.WriteFile(path, f(data), 0o600))
		}
	}
	faults := map[string]func(t *testing.T, path, other string){
		"truncated":        edit(func(b []byte) []byte { return b[:len(b)/2] }),
		"zero-length":      edit(func(b []byte) []byte { return nil }),
		"flipped byte":     edit(func(b []byte) []byte { b[len(b)*2/3] ^= 0x20; return b }),
		"kind to delete":   edit(func(b []byte) []byte { b[8] = 2; return b }),
		"flipped seq":      edit(func(b []byte) []byte { b[16] ^= 1; return b }),
		"last byte gone":   edit(func(b []byte) []byte { return b[:len(b)-1] }),
		"damaged header":   edit(func(b []byte) []byte { b[0] = 'X'; return b }),
		"garbage appended": edit(func(b []byte) []byte { return append(b, 0, 0, 0) }),
		"copied from another user": func(t *testing.T, path, other string) {
			data, err := os.ReadFile(other)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, data, 0o600))
		},
		"symlink to another user": func(t *testing.T, path, other string) {
			require.NoError(t, os.Remove(path))
			require.NoError(t, os.Symlink(other, path))
		},
		"FIFO": func(t *testing.T, path, _ string) {
			require.NoError(t, os.Remove(path))
			require.NoError(t, syscall.Mkfifo(path, 0o600))
		},
		"directory": func(t *testing.T, path, _ string) {
			require.NoError(t, os.Remove(path))
			require.NoError(t, os.Mkdir(path, 0o700))
		},
	}
	damaged := map[string]account{}
	secrets := map[string]string{}
	for what := range faults {
		u := newUser(t)
		damaged[what] = u
		secrets[u.Name] = d.Enroll(u.Name).Secret
	}
	good := newUser(t)
	goodSecret := d.Enroll(good.Name).Secret

	require.NoError(t, d.Stop(), "SIGTERM ends totpd cleanly (and checkpoints)")
	goodPath := filepath.Join(d.StateDir, "users", good.Name)
	for what, u := range damaged {
		path := filepath.Join(d.StateDir, "users", u.Name)
		_, err := os.Stat(path)
		require.NoError(t, err, "the clean stop wrote %s's snapshot", u.Name)
		faults[what](t, path, goodPath)
	}
	d.Start()

	for what, u := range damaged {
		_, err := d.Call(wire.Request{Op: wire.OpLoginQuery, User: u.Name, Service: "e2e"})
		require.Equal(t, wire.ErrCodeState, errCode(err), "%s snapshot: login query", what)
		require.Contains(t, err.Error(), "administrator")
		_, err = d.Verify(u.Name, codeAt(t, secrets[u.Name], time.Now()))
		require.Equal(t, wire.ErrCodeState, errCode(err), "%s snapshot: the right code is denied", what)
		d.WaitLog(`state of user "`+u.Name+`" cannot be read`, 5*time.Second)

		r := d.CtlAs(u, "status")
		require.Equal(t, 1, r.Code, "%s snapshot: status: %s", what, r)
		require.NotContains(t, r.Stdout+r.Stderr, "not enrolled")
		r = d.Ctl("user", "enroll", u.Name)
		require.Equal(t, 1, r.Code, "%s snapshot: an admin enrollment does not silently overwrite it: %s", what, r)
	}
	r := d.CtlOK(nil, "users")
	for what, u := range damaged {
		var row string
		for _, l := range strings.Split(r.Stdout, "\n") {
			if strings.HasPrefix(l, u.Name+" ") {
				row = l
			}
		}
		require.NotEmpty(t, row, "%s snapshot: `totpctl users` still lists %s:\n%s", what, u.Name, r.Stdout)
		require.Contains(t, row, "ERROR", "%s snapshot", what)
	}

	require.Equal(t, wire.ActionPrompt, d.Query(good.Name).Action, "the other users are fine")
	_, err := d.Verify(good.Name, codeAt(t, goodSecret, time.Now()))
	require.NoError(t, err)
	d.Alive()
}

// TestWrongMasterKey replaces the master key: totpd refuses to start and
// says why, and starts again with the right key, nothing lost.
func TestWrongMasterKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	d := startDaemon(t, b, config{})
	u := newUser(t)
	e := d.Enroll(u.Name)
	require.NoError(t, d.Stop())

	right, err := os.ReadFile(d.KeyFile)
	require.NoError(t, err)
	for what, key := range map[string][]byte{
		"another key": func() []byte { k := make([]byte, 32); rand.Read(k); return k }(),
		"garbage":     []byte("not a key\n"),
		"empty":       {},
	} {
		require.NoError(t, os.WriteFile(d.KeyFile, key, 0o600))
		d.StartProcess()
		stderr, err := d.WaitExit(10 * time.Second)
		require.Error(t, err, "%s: totpd must exit non-zero", what)
		require.Contains(t, stderr, "master key", "%s: the error says what is wrong", what)
		require.Contains(t, stderr, d.KeyFile, "%s: the error names the key file", what)
		require.NotContains(t, stderr, "ready", "%s", what)
	}

	require.NoError(t, os.WriteFile(d.KeyFile, right, 0o600))
	d.Start()
	require.True(t, d.Show(u.Name).Enrolled, "nothing was lost")
	_, err = d.Verify(u.Name, codeAt(t, e.Secret, time.Now()))
	require.NoError(t, err)
}
