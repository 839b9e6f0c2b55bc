package client

// Passing a file to the daemon: totpctl backup and restore open FILE
// themselves and hand the descriptor over on the request's connection
// (SCM_RIGHTS), so that the daemon, sandboxed and root, never opens a path
// it is told (daemon/server/op_backup.go).

import (
	"context"
	"os"

	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/daemon/wire"
)

// CallWithFile is Call for the ops that work through a file (wire.OpBackup,
// wire.OpRestore): after the request it sends one byte carrying f's
// descriptor. The daemon gets its own reference to the open file, with the
// access f was opened with, and nothing else.
func (c *Client) CallWithFile(ctx context.Context, req wire.Request, f *os.File) (*wire.Response, error) {
	return c.call(ctx, req, f)
}

// sendFile sends one byte with f's descriptor attached, blocking until
// the deadline at most. It is a message of its own after the request
// frame, so that a daemon reading the frame with plain reads never takes
// the descriptor by mistake.
func (c *conn) sendFile(f *os.File) error {
	rights := unix.UnixRights(int(f.Fd()))
	for {
		if err := c.arm(unix.SO_SNDTIMEO); err != nil {
			return err
		}
		err := unix.Sendmsg(c.fd, []byte{0}, rights, nil, unix.MSG_NOSIGNAL)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return errTimeout
		case nil:
			return nil
		}
		return os.NewSyscallError("sendmsg", err)
	}
}
