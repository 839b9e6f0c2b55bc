package hostkit

import (
	"net"
	"os"
	"strings"
	"sync"
	"time"
)

// NotifySocket is a $NOTIFY_SOCKET like systemd's: it keeps every
// sd_notify datagram with the instant it arrived, and passes each to the
// subscribers of that instant.
type NotifySocket struct {
	Path string

	conn *net.UnixConn
	mu   sync.Mutex
	msgs []NotifyMsg
	subs []chan NotifyMsg
}

// NotifyMsg is one datagram: its lines (READY=1, STATUS=…) and when it came.
type NotifyMsg struct {
	At    time.Time
	State string
}

// ListenNotify listens at path (replacing a stale socket file there).
func ListenNotify(path string) (*NotifySocket, error) {
	os.Remove(path)
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	n := &NotifySocket{Path: path, conn: c}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := c.ReadFromUnix(buf)
			if err != nil {
				return
			}
			m := NotifyMsg{At: time.Now(), State: string(buf[:k])}
			n.mu.Lock()
			n.msgs = append(n.msgs, m)
			for _, s := range n.subs {
				select {
				case s <- m:
				default:
				}
			}
			n.mu.Unlock()
		}
	}()
	return n, nil
}

// Subscribe reports a channel of the datagrams from now on (up to 16
// unread; more are dropped) and the function that ends the subscription.
func (n *NotifySocket) Subscribe() (<-chan NotifyMsg, func()) {
	ch := make(chan NotifyMsg, 16)
	n.mu.Lock()
	n.subs = append(n.subs, ch)
	n.mu.Unlock()
	return ch, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		for i, s := range n.subs {
			if s == ch {
				n.subs = append(n.subs[:i], n.subs[i+1:]...)
				break
			}
		}
	}
}

// Count reports how many datagrams came so far.
func (n *NotifySocket) Count() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.msgs)
}

// Has reports whether some datagram from the from-th on holds the line
// want (for want STATUS=…, a line that starts with it).
func (n *NotifySocket) Has(from int, want string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range n.msgs[min(from, len(n.msgs)):] {
		for _, l := range strings.Split(m.State, "\n") {
			if l == want || strings.HasPrefix(want, "STATUS=") && strings.HasPrefix(l, want) {
				return true
			}
		}
	}
	return false
}

// String reports every datagram so far, for failure messages.
func (n *NotifySocket) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := make([]string, len(n.msgs))
	for i, m := range n.msgs {
		l[i] = m.State
	}
	return strings.Join(l, " | ")
}

// Close stops listening and removes the socket file.
func (n *NotifySocket) Close() { n.conn.Close(); os.Remove(n.Path) }
