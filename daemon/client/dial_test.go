package client

import (
	"context"
	"errors"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/daemon/wire"
)

// TestCallRetriesFullQueue: while the daemon's listen queue is full (a
// flood of another user's connections), Linux refuses new connections at
// once; a login's call retries and gets through once the queue drains.
func TestCallRetriesFullQueue(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	require.NoError(t, err)
	require.NoError(t, syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}))
	require.NoError(t, syscall.Listen(fd, 1))
	ln, err := net.FileListener(os.NewFile(uintptr(fd), sock))
	require.NoError(t, err)
	syscall.Close(fd)
	defer ln.Close()

	// Fill the queue, as a flood would, until the kernel refuses.
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for i := 0; ; i++ {
		c, err := net.Dial("unix", sock)
		if err != nil {
			require.True(t, errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.ECONNREFUSED), "a full queue refuses with EAGAIN or ECONNREFUSED, not %v", err)
			break
		}
		flood = append(flood, c)
		require.Less(t, i, 100, "the queue of 1 never filled")
	}

	// The daemon drains its queue a moment later and answers everyone.
	go func() {
		time.Sleep(100 * time.Millisecond) // the flood holds the queue this long, not a synchronisation
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := wire.ReadFrame(c, 0); err == nil {
					_ = wire.WriteJSON(c, &wire.Response{Version: wire.Version})
				}
			}()
		}
	}()
	cl := &Client{Socket: sock, Timeout: 5 * time.Second, ServerUID: os.Getuid()}
	_, err = cl.Call(context.Background(), wire.Request{Op: wire.OpStatus})
	require.NoError(t, err, "the call must wait out a full queue")
}

// TestCallGivesUpOnStaleSocket: a socket file whose daemon is gone is
// refused for good; the call gives up after busyDialFor, not the timeout.
func TestCallGivesUpOnStaleSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	cl := &Client{Socket: sock, Timeout: time.Minute, ServerUID: os.Getuid()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = cl.Call(ctx, wire.Request{Op: wire.OpStatus})
	require.True(t, IsUnavailable(err), "a stale socket is unavailable: %v", err)
	require.NoError(t, ctx.Err(), "the call gave up before its deadline")
}

// TestCallDeadlineUnderSignals: a daemon that accepts and never answers
// holds a call no longer than its timeout, even while signals (a
// terminal being resized under su) keep interrupting the read: each
// retry is armed with what is left, not the whole timeout again.
func TestCallDeadlineUnderSignals(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGWINCH) // a handler, so that the signal interrupts
	defer signal.Stop(sigs)
	cl := &Client{Socket: sock, Timeout: 300 * time.Millisecond, ServerUID: os.Getuid()}
	done := make(chan error, 1)
	tid := make(chan int, 1)
	go func() {
		// The signal must reach the thread blocked in the read.
		runtime.LockOSThread()
		tid <- unix.Gettid()
		_, err := cl.Call(context.Background(), wire.Request{Op: wire.OpStatus})
		done <- err
	}()
	stop := make(chan struct{})
	defer close(stop)
	go func(tid int) {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				unix.Tgkill(os.Getpid(), tid, unix.SIGWINCH)
			}
		}
	}(<-tid)
	select {
	case err := <-done:
		require.True(t, IsUnavailable(err), "a daemon that never answers is unavailable: %v", err)
	case <-time.After(30 * time.Second): // a hang, not a slow answer: 100 times the timeout
		t.Fatal("the call outlived its 300 ms timeout by 30 s while signals arrived")
	}
}
