package testutils

import (
	"bytes"
	"sync"
)

// LockedBuffer is a bytes.Buffer that one goroutine writes (an exec
// copier, a daemon's logger, a pty reader) while another reads it.
//
// With Limit > 0, writes that come once the buffer holds more than Limit
// bytes are dropped (and reported as written), so a chatty program cannot
// grow it without bound.
type LockedBuffer struct {
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Limit > 0 && l.b.Len() > l.Limit {
		return len(p), nil
	}
	return l.b.Write(p)
}

// String reports what was written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Len reports how many bytes were kept so far.
func (l *LockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}
