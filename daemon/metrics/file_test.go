package metrics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/e2e/testutils"
)

// logLines collects what a FileWriter logs.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logLines) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// A reader never sees part of a file: while the file is rewritten
// hundreds of times with versions of different sizes (one of them 300
// KiB, far over a page, so that a torn write would show), every read is
// exactly one whole version, it parses, and the mode is 0644. No
// temporary file is left behind.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "totpd.prom")
	var versions [][]byte
	for i := range 3 {
		r := New()
		r.verifications[vOK].Add(uint64(i))
		text, err := r.Text()
		require.NoError(t, err)
		if i == 2 {
			// Comments are part of the format; they make this version big.
			text = append(text, []byte(strings.Repeat("# padding to make the file large\n", 300<<10/33))...)
		}
		versions = append(versions, text)
	}
	require.NoError(t, WriteFile(path, versions[0]))

	var stop atomic.Bool
	var writes atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 0; !stop.Load(); i++ {
			if err := WriteFile(path, versions[i%len(versions)]); err != nil {
				done <- err
				return
			}
			writes.Add(1)
		}
		done <- nil
	}()
	reads := 0
	for writes.Load() < 200 || reads < 200 {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		whole := false
		for _, v := range versions {
			whole = whole || string(v) == string(data)
		}
		require.True(t, whole, "read %d bytes that are no whole version (after %d writes)", len(data), writes.Load())
		parse(t, data)
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(FileMode), fi.Mode().Perm())
		reads++
	}
	stop.Store(true)
	require.NoError(t, <-done)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "only the file itself: no temporary file is left")
}

// The mode is 0644 whatever the umask, and a symlink planted at the path
// is replaced, not followed.
func TestWriteFileModeAndSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "victim")
	require.NoError(t, os.WriteFile(target, []byte("keep"), 0o600))
	path := filepath.Join(dir, "totpd.prom")
	require.NoError(t, os.Symlink(target, path))
	require.NoError(t, WriteFile(path, []byte("totpd_x 1\n")))
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	require.True(t, fi.Mode().IsRegular(), "the symlink is replaced by the file")
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	data, err := os.ReadFile(target)
	require.NoError(t, err)
	require.Equal(t, "keep", string(data), "the symlink's target is untouched")
}

// A failure is logged once with what to do, not at every period; a
// different failure is logged again, and so is the recovery.
func TestFileWriterLogsOncePerError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "missing", "totpd.prom")
	var log logLines
	w := &FileWriter{Path: func() string { return path }, Text: New().Text, Logf: log.logf}
	for range 5 {
		w.Once()
	}
	lines := log.get()
	require.Len(t, lines, 1, "one line for five failed writes: %q", lines)
	require.Contains(t, lines[0], "metrics_file "+path)
	require.Contains(t, lines[0], "create the directory "+filepath.Dir(path))

	require.NoError(t, os.Mkdir(filepath.Dir(path), 0o755))
	w.Once()
	w.Once()
	lines = log.get()
	require.Len(t, lines, 2, "%q", lines)
	require.Equal(t, "metrics_file: "+path+" written again", lines[1])
	_, err := os.Stat(path)
	require.NoError(t, err)

	// Another failure: the path is now a directory.
	require.NoError(t, os.Remove(path))
	require.NoError(t, os.Mkdir(path, 0o755))
	w.Once()
	w.Once()
	lines = log.get()
	require.Len(t, lines, 3, "%q", lines)
	require.Contains(t, lines[2], "metrics_file "+path)
}

// A change of metrics_file removes the file written before, so that
// node_exporter does not read stale numbers for ever; "" turns it off.
func TestFileWriterPathChange(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.prom"), filepath.Join(dir, "b.prom")
	var mu sync.Mutex
	cur := a
	var log logLines
	w := &FileWriter{Path: func() string { mu.Lock(); defer mu.Unlock(); return cur }, Text: New().Text, Logf: log.logf}
	w.Once()
	require.FileExists(t, a)
	mu.Lock()
	cur = b
	mu.Unlock()
	w.Once()
	require.NoFileExists(t, a)
	require.FileExists(t, b)
	mu.Lock()
	cur = ""
	mu.Unlock()
	w.Once()
	require.NoFileExists(t, b)
	require.Empty(t, log.get())
}

// Run writes at once and then every Period, with the counts of the
// moment, until its context ends.
func TestFileWriterRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "totpd.prom")
	r := New()
	var log logLines
	w := &FileWriter{Path: func() string { return path }, Text: r.Text, Period: 10 * time.Millisecond, Logf: log.logf}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	testutils.WaitFor(t, 5*time.Second, "the file at start", func() bool { _, err := os.Stat(path); return err == nil })
	r.lockouts.Add(4)
	testutils.WaitFor(t, 5*time.Second, "the file rewritten with the new count", func() bool {
		data, err := os.ReadFile(path)
		return err == nil && strings.Contains(string(data), "\ntotpd_lockouts_total 4\n")
	})
	cancel()
	<-done
	require.Empty(t, log.get())
}
