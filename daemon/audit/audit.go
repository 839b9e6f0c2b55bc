// Package audit records every decision totpd makes: to the systemd
// journal with structured fields when there is one, else to stderr.
// An Event never holds a secret, a code or a recovery code; the type has
// no field that could carry one.
package audit

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// Event is one audited action.
type Event struct {
	Op      string // wire op, e.g. "login.verify"
	User    string // the user acted upon
	Caller  string // who asked: user name or "uid N"
	Service string
	RHost   string
	TTY     string
	Result  string // "ok", "denied", "allowed", "ignored", "error"
	Reason  string // why, in a few words
}

// Logger records events.
type Logger interface {
	Log(Event)
}

// New reports the journal logger when the journal socket is there, else a
// stderr logger.
func New() Logger {
	if journal.Enabled() {
		return journalLogger{}
	}
	return NewWriter(os.Stderr)
}

// NewWriter reports a logger writing one key=value line per event to w.
func NewWriter(w io.Writer) Logger { return &writerLogger{w: w} }

// fields reports the event as journal fields.
func (e Event) fields() map[string]string {
	m := map[string]string{
		"TOTPD_OP":     e.Op,
		"TOTPD_USER":   e.User,
		"TOTPD_CALLER": e.Caller,
		"TOTPD_RESULT": e.Result,
		"TOTPD_REASON": e.Reason,
	}
	for k, v := range map[string]string{"TOTPD_SERVICE": e.Service, "TOTPD_RHOST": e.RHost, "TOTPD_TTY": e.TTY} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

// String reports the event as one human-readable line.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s user=%q result=%s reason=%q caller=%q", e.Op, e.User, e.Result, e.Reason, e.Caller)
	if e.Service != "" {
		fmt.Fprintf(&b, " service=%q", e.Service)
	}
	if e.RHost != "" {
		fmt.Fprintf(&b, " rhost=%q", e.RHost)
	}
	if e.TTY != "" {
		fmt.Fprintf(&b, " tty=%q", e.TTY)
	}
	return b.String()
}

type journalLogger struct{}

func (journalLogger) Log(e Event) {
	pri := journal.PriInfo
	if e.Result == "denied" || e.Result == "error" {
		pri = journal.PriNotice
	}
	if err := journal.Send(e.String(), pri, e.fields()); err != nil {
		fmt.Fprintf(os.Stderr, "totpd: audit: journal: %v; %s\n", err, e)
	}
}

type writerLogger struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *writerLogger) Log(e Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s totpd: audit: %s\n", time.Now().UTC().Format(time.RFC3339), e)
}

// Recorder keeps events in memory, for tests.
type Recorder struct {
	mu     sync.Mutex
	Events []Event
}

// Log appends e.
func (r *Recorder) Log(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Events = append(r.Events, e)
}

// Snapshot reports a copy of the events so far.
func (r *Recorder) Snapshot() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.Events...)
}
