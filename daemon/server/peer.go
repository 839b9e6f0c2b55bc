package server

import (
	"errors"
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// Peer is who is on the other end of a connection, as the kernel says
// (SO_PEERCRED), never as the peer claims.
type Peer struct {
	UID uint32
	PID int32
}

// PeerFunc reports the Peer of a connection. Tests pass their own to
// play callers they cannot be; the daemon uses PeerCred.
type PeerFunc func(net.Conn) (Peer, error)

// PeerCred reports the SO_PEERCRED credentials of a Unix socket connection.
func PeerCred(c net.Conn) (Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{}, fmt.Errorf("connection is %T, not a Unix socket", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{}, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{}, err
	}
	if serr != nil {
		return Peer{}, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	if cred == nil {
		return Peer{}, errors.New("SO_PEERCRED gave nothing")
	}
	return Peer{UID: cred.Uid, PID: cred.Pid}, nil
}
