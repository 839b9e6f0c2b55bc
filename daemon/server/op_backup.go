package server

// Backup and restore work through a file totpctl opens and passes on the
// request's connection (SCM_RIGHTS): the daemon never opens a path an
// administrator names (it runs with a read-only file system except its own
// directories, and would write as root wherever it was told). The client
// writes its request frame, then one byte carrying the descriptor
// (daemon/client/fdpass.go). Only these ops, once authorize has let the
// caller through, read that byte with recvmsg; every other op reads with
// plain reads, so a descriptor sent with another request is never
// installed in the daemon and the kernel drops it when the connection
// closes.

import (
	"errors"
	"io"
	"net"
	"os"

	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
	"github.com/totpd/totpd/daemon/wire"
)

// opBackup answers wire.OpBackup (totpctl backup): root or admin_group. A
// backup is sealed under the master key, which only root can read.
var opBackup = opSpec{classAdmin, needsFile}

// opRestore answers wire.OpRestore (totpctl restore): root only, since it
// replaces every user's secrets, recovery codes and lockouts at once.
var opRestore = opSpec{classRoot, needsFile}

// fileOp is an op answered with the file passed on its connection.
type fileOp struct {
	write  bool // the file is written (backup), else read (restore)
	handle func(e *engine.Engine, f *os.File, info engine.Info) *wire.Response
}

// fileOps are the ops that take a file; dispatch hands them to withFile.
var fileOps = map[wire.Op]fileOp{
	wire.OpBackup:  {true, (*engine.Engine).Backup},
	wire.OpRestore: {false, (*engine.Engine).Restore},
}

// needsFile is the table's answer to a file op that reached it without a
// connection to take the file from (a test calling answer directly).
func needsFile(_ *engine.Engine, _ string, req *wire.Request, _ engine.Info) *wire.Response {
	return errResp(wire.ErrCodeBadRequest, string(req.Op)+" needs the file passed with the request: use totpctl backup FILE or totpctl restore FILE")
}

// withFile answers req when it is a file op and c its connection: it takes
// the descriptor the client passed, checks what it is and hands it to the
// engine. It reports false for every other request.
func (s *Server) withFile(c *net.UnixConn, req *wire.Request, info engine.Info) (*wire.Response, bool) {
	op, ok := fileOps[req.Op]
	if !ok || c == nil {
		return nil, false
	}
	f, err := recvFile(c)
	if err == nil {
		defer f.Close()
		err = store.CheckBackupFile(f, op.write)
	}
	if err != nil {
		s.audit(info.Event("", "denied", "no usable file passed"))
		return errResp(wire.ErrCodeBadRequest, "the file passed with the request cannot be used: "+err.Error()), true
	}
	return op.handle(s.Engine, f, info), true
}

// recvFile reads the one byte that follows a file op's request and the
// one descriptor it carries. Room is made for one: the kernel installs no
// more (it sets MSG_CTRUNC and drops the rest), and a message with more
// than one, or none, is refused with every descriptor received closed.
func recvFile(c *net.UnixConn) (*os.File, error) {
	var b [1]byte
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, flags, _, err := c.ReadMsgUnix(b[:], oob) // MSG_CMSG_CLOEXEC: never inherited
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the client hung up before passing the file")
		}
		return nil, err
	}
	var fds []int
	if msgs, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
		for i := range msgs {
			if got, err := unix.ParseUnixRights(&msgs[i]); err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if n != 1 || len(fds) != 1 || flags&unix.MSG_CTRUNC != 0 {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, errors.New("no single file descriptor came with the request (use a totpctl of the same release as totpd)")
	}
	return os.NewFile(uintptr(fds[0]), "the file passed with the request"), nil
}
