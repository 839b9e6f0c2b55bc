package hostkit

import (
	"context"
	"fmt"
	"net"
	"time"
)

// WaitUnixSocket polls the Unix socket at path until a connection to it
// is accepted (a daemon that serves), for at most timeout. exited, when
// closed, means the daemon ended: the wait gives up at once with
// ErrExited. When ctx ends first it reports ctx.Err().
func WaitUnixSocket(ctx context.Context, path string, timeout time.Duration, exited <-chan struct{}) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("the daemon of %s exited before serving: %w", path, ErrExited)
		default:
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing accepted on %s within %v (%v)", path, timeout, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
}
