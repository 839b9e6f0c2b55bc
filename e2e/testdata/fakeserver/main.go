// Command fakeserver is a test helper for the e2e suite: a daemon that
// says yes to everything, which the suite runs under a uid that is not
// root to show that totpctl and the PAM module refuse to talk to it.
//
// Usage: fakeserver SOCKET. It listens on SOCKET (mode 0666), prints
// "ready" on stdout, then one line "got OP" for every request that
// reaches it, and serves until it is killed. It runs in a process of its
// own, so it serves with wiretest.Answer, the exchange of the in-process
// test server.
package main

import (
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fakeserver SOCKET")
		os.Exit(2)
	}
	ln, err := net.Listen("unix", os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "fakeserver: %v\n", err)
		os.Exit(1)
	}
	if err := os.Chmod(os.Args[1], 0o666); err != nil {
		fmt.Fprintf(os.Stderr, "fakeserver: %v\n", err)
		os.Exit(1)
	}
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Printf(format+"\n", a...)
	}
	say("ready")
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "fakeserver: %v\n", err)
			os.Exit(1)
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = wiretest.Answer(c, func(req wire.Request) wire.Response {
				say("got %s", req.Op)
				return yes(req)
			})
		}()
	}
}

// yes answers req the way that would let a caller in or look healthy.
func yes(req wire.Request) wire.Response {
	var r wire.Response
	switch req.Op {
	case wire.OpLoginQuery, wire.OpLoginVerify:
		r.Action = wire.ActionAllow
		r.Messages = []wire.Message{{Text: "fakeserver says yes"}}
	case wire.OpStatus, wire.OpUserShow:
		r.Status = &wire.Status{User: req.User, Enrolled: true, ServerTime: time.Now()}
	case wire.OpUserCheck:
		r.Check = &wire.Check{User: req.User, Valid: true, PeriodSec: 30}
	}
	return r
}
