// Command flood is a hostile local user for the e2e fairness test: it
// holds -conns connections to the daemon's socket, re-opening every one
// the daemon closes, for -for; half of them stay idle, the other half
// trickle one byte every -trickle (a frame header that never ends). The
// suite runs it under a non-root uid (SO_PEERCRED knows a whole process).
//
// It prints "dialled N" once each of its N connections has been opened
// once, and at the end one line of counts: dials, dial errors,
// connections the daemon ended, and the most held at once.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	socket := flag.String("socket", "", "the daemon's socket")
	conns := flag.Int("conns", 3000, "connections to hold")
	dur := flag.Duration("for", 20*time.Second, "how long to flood; it stops by itself")
	trickle := flag.Duration("trickle", 500*time.Millisecond, "byte interval of the trickling half")
	flag.Parse()
	if *socket == "" {
		fmt.Fprintln(os.Stderr, "flood: -socket is required")
		os.Exit(2)
	}
	var dials, dialErrs, ended, open, most, first atomic.Int64
	stop := time.Now().Add(*dur)
	var announce sync.Once
	var wg sync.WaitGroup
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(trickles bool) {
			defer wg.Done()
			for once := true; time.Now().Before(stop); once = false {
				if once && first.Add(1) == int64(*conns) {
					announce.Do(func() { fmt.Printf("dialled %d\n", *conns) })
				}
				dials.Add(1)
				c, err := net.DialTimeout("unix", *socket, time.Second)
				if err != nil {
					dialErrs.Add(1)
					time.Sleep(10 * time.Millisecond) // a hostile client need not be polite, but must not spin
					continue
				}
				n := open.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				hold(c, trickles, *trickle, stop)
				open.Add(-1)
				ended.Add(1)
			}
		}(i%2 == 1)
	}
	wg.Wait()
	fmt.Printf("dials=%d dial_errors=%d ended_by_daemon=%d most_held=%d\n", dials.Load(), dialErrs.Load(), ended.Load(), most.Load())
}

// slowFrame is what a trickling connection sends, a byte at a time: a
// header announcing 4 KiB, then body bytes that never reach it.
var slowFrame = []byte{0, 0, 0x10, 0}

// hold keeps c open until the daemon ends it or stop passes; a trickling
// connection writes one byte of slowFrame (then 'x's) every interval.
func hold(c net.Conn, trickles bool, interval time.Duration, stop time.Time) {
	defer c.Close()
	readErr := make(chan error, 1)
	go func() {
		buf := make([]byte, 512)
		for {
			if _, err := c.Read(buf); err != nil {
				readErr <- err
				return
			}
		}
	}()
	sent := 0
	tick := time.NewTicker(interval)
	defer tick.Stop()
	end := time.NewTimer(time.Until(stop))
	defer end.Stop()
	for {
		select {
		case <-readErr:
			return
		case <-end.C:
			return
		case <-tick.C:
			if trickles {
				b := byte('x')
				if sent < len(slowFrame) {
					b = slowFrame[sent]
				}
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				sent++
			}
		}
	}
}
