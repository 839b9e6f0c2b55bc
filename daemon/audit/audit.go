// Package audit records every decision totpd makes: to the systemd
// journal with structured fields when there is one, else to stderr.
// An Event never holds a secret, a code or a recovery code; the type has
// no field that could carry one. Every value a request could have put in
// an event is escaped on the way out (strconv.Quote), so no request can
// start a line of its own or send control characters to a terminal.
package audit

import (
	"fmt"
	"io"
	"os"
	"strconv"
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
	// ClaimedBy is "uid N" when a caller other than root sent Service,
	// RHost and TTY (a screen locker running as the user): they are
	// that caller's claim, not what sshd or login as root said.
	ClaimedBy string
	// Offline: the decision was made from this host's local copy because
	// the etcd cluster did not answer (fleet mode, PRODUCT.md §8, with
	// offline = "local"); it is written back when etcd answers again.
	// Written only when set: `offline=true`, TOTPD_OFFLINE=1.
	Offline bool
}

// Logger records events.
type Logger interface {
	Log(Event)
}

// New returns the journal logger when the journal socket is there, else a
// stderr logger.
func New() Logger {
	if journal.Enabled() {
		return journalLogger{}
	}
	return NewWriter(os.Stderr)
}

// NewWriter returns a logger writing one key=value line per event to w.
func NewWriter(w io.Writer) Logger { return &writerLogger{w: w} }

// fields reports the event as journal fields, each value escaped.
func (e Event) fields() map[string]string {
	m := map[string]string{
		"TOTPD_OP":     escape(e.Op),
		"TOTPD_USER":   escape(e.User),
		"TOTPD_CALLER": escape(e.Caller),
		"TOTPD_RESULT": escape(e.Result),
		"TOTPD_REASON": escape(e.Reason),
	}
	for k, v := range map[string]string{"TOTPD_SERVICE": e.Service, "TOTPD_RHOST": e.RHost, "TOTPD_TTY": e.TTY, "TOTPD_CLAIMED_BY": e.ClaimedBy} {
		if v != "" {
			m[k] = escape(v)
		}
	}
	if e.Offline {
		m["TOTPD_OFFLINE"] = "1"
	}
	return m
}

// escape reports v as strconv.Quote writes it, without the surrounding
// quotes: printable text (every legitimate name, host and service) is
// unchanged, while control characters, newlines, invalid UTF-8 and
// backslashes come out as Go escapes, so a journal field can always be
// told from the bytes a request sent.
func escape(v string) string {
	q := strconv.Quote(v)
	return q[1 : len(q)-1]
}

// token reports v bare when it is a word of the daemon's own ("ok",
// "login.verify"), else quoted: a value that is not one cannot pass for one.
func token(v string) string {
	if v == "" {
		return `""`
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return strconv.Quote(v)
		}
	}
	return v
}

// String reports the event as one human-readable line: the op and the
// result bare when they are the daemon's own words, every other value
// quoted (%q), so the line holds no newline or control character. An
// offline decision has offline=true after its reason; other lines have
// no offline field at all.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s user=%q result=%s reason=%q", token(e.Op), e.User, token(e.Result), e.Reason)
	if e.Offline {
		b.WriteString(" offline=true")
	}
	fmt.Fprintf(&b, " caller=%q", e.Caller)
	if e.Service != "" {
		fmt.Fprintf(&b, " service=%q", e.Service)
	}
	if e.RHost != "" {
		fmt.Fprintf(&b, " rhost=%q", e.RHost)
	}
	if e.TTY != "" {
		fmt.Fprintf(&b, " tty=%q", e.TTY)
	}
	if e.ClaimedBy != "" {
		fmt.Fprintf(&b, " claimed_by=%q", e.ClaimedBy)
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
