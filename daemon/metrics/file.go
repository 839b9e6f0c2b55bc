package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// DefaultPeriod is how often FileWriter rewrites metrics_file: 15 s, the
// scrape interval node_exporter is usually run at, so that each scrape
// sees values at most one period old.
const DefaultPeriod = 15 * time.Second

// FileMode is the mode of metrics_file: node_exporter runs as its own
// user and must read it, and it holds no secret (counts, the version).
const FileMode = 0o644

// FileWriter writes the exposition to a file at start and every Period,
// for node_exporter's textfile collector. Every field but Period is
// required; Run (or Once) is called from one goroutine at a time.
type FileWriter struct {
	// Path reports the file to write now, "" for none (metrics_file).
	// It is asked at every write, so a reload that changes metrics_file
	// takes effect at the next one; the file written before is removed.
	Path func() string
	// Text reports the exposition; an error with text is logged and the
	// text still written (Registry.Text leaves out what it could not count).
	Text func() ([]byte, error)
	// Period between writes; 0: DefaultPeriod. Tests make it short.
	Period time.Duration
	// Logf receives one line when writing starts to fail, when the error
	// changes, and when it works again: never the same error every period.
	Logf func(format string, args ...any)

	written string // the file last written, to remove when Path changes
	lastErr string // the error last logged, "" when the last write worked
}

// Run writes the file at once and then every Period until ctx is done.
func (w *FileWriter) Run(ctx context.Context) {
	period := w.Period
	if period <= 0 {
		period = DefaultPeriod
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		w.Once()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Once writes the file now (Run calls it every Period).
func (w *FileWriter) Once() {
	path := w.Path()
	if w.written != "" && w.written != path {
		// metrics_file changed or was turned off: a stale file would be
		// read as current by node_exporter for ever.
		if err := os.Remove(w.written); err != nil && !errors.Is(err, os.ErrNotExist) {
			w.report(fmt.Sprintf("metrics_file: removing the old file %s: %v", w.written, err))
		}
		w.written = ""
	}
	if path == "" {
		w.lastErr = "" // off: nothing is failing any more
		return
	}
	text, terr := w.Text()
	if err := WriteFile(path, text); err != nil {
		w.report(fmt.Sprintf("metrics_file %s: %v%s; the file is retried every %s", path, err, hint(path, err), w.period()))
		return
	}
	w.written = path
	if terr != nil {
		w.report(fmt.Sprintf("metrics_file %s: written without the users by state: %v", path, terr))
		return
	}
	w.report("")
}

func (w *FileWriter) period() time.Duration {
	if w.Period <= 0 {
		return DefaultPeriod
	}
	return w.Period
}

// report logs msg when it differs from the last one; "" is success, and
// after a failure it is logged as such once.
func (w *FileWriter) report(msg string) {
	if msg == w.lastErr {
		return
	}
	if msg == "" {
		w.Logf("metrics_file: %s written again", w.written)
	} else {
		w.Logf("%s", msg)
	}
	w.lastErr = msg
}

// hint says what an administrator can do about err writing path.
func hint(path string, err error) string {
	dir := filepath.Dir(path)
	switch {
	case errors.Is(err, syscall.EROFS):
		return fmt.Sprintf(" (under systemd, totpd.service sees the file system read-only: add ReadWritePaths=%s with `systemctl edit totpd.service`, then restart it)", dir)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Sprintf(" (totpd runs as root without CAP_DAC_OVERRIDE under systemd: the directory %s must be writable by root through its mode, e.g. owned by root)", dir)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Sprintf(" (create the directory %s, or fix metrics_file in the configuration)", dir)
	}
	return ""
}

// WriteFile replaces path with data atomically: a temporary file in the
// same directory, written, made FileMode, fsync'ed and renamed over path.
// A reader sees the old file or the new one, never part of one. The
// temporary name starts with "." and does not end in ".prom", so the
// textfile collector never reads it. The rename replaces whatever is at
// path, a symlink included, without following it.
//
// Its errors name the step and the directory, not the temporary file's
// random name, so that the same failure reads the same each time
// (FileWriter logs each error once).
func WriteFile(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file in %s: %w", dir, bare(err))
	}
	tmp := f.Name()
	step := "writing a temporary file in " + dir
	err = f.Chmod(FileMode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		step = "renaming the temporary file over " + path
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", step, bare(err))
	}
	return nil
}

// bare reports the system error inside a *PathError or *LinkError, whose
// text would repeat the temporary file's name.
func bare(err error) error {
	var pe *os.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		return pe.Err
	case errors.As(err, &le):
		return le.Err
	}
	return err
}
