// Command totpd is the totpd daemon: it holds the TOTP secrets and
// answers the PAM module and totpctl over a Unix socket. See totpd(8).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/totpd/totpd/daemon"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/version"
)

// memoryLimit keeps the heap, and so RSS, small under bursts of
// connections: ARCHITECTURE.md, "Numbers" gives the daemon 20 MiB with 10,000 users,
// of which the mapped binary and libc take about 4. Lower limits were
// measured to cost more in GC work than they save (a live heap near the
// limit makes the GC run constantly). GOMEMLIMIT in the environment wins.
const memoryLimit = 15 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	fs := flag.NewFlagSet("totpd", flag.ContinueOnError)
	cfg := fs.String("config", "", "configuration file (default "+config.DefaultPath+")")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if *showVersion {
		fmt.Println("totpd", version.Version)
		return
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "totpd: unexpected argument %q; usage: totpd [--config FILE]\n", fs.Arg(0))
		os.Exit(2)
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT)
	if err := daemon.Run(context.Background(), daemon.Options{ConfigPath: *cfg, Signals: sigs}); err != nil {
		fmt.Fprintf(os.Stderr, "totpd: %v\n", err)
		os.Exit(1)
	}
}
