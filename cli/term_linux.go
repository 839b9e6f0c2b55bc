//go:build linux

package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// readLineNoEcho prints prompt to w and reads one line from in. When in is
// a terminal, echo is off while the line is typed (as at a login prompt)
// and the terminal is restored even if the user presses Ctrl-C.
func readLineNoEcho(in *os.File, w io.Writer, prompt string) (string, error) {
	fd := int(in.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		fmt.Fprint(w, prompt)
		return readLine(in)
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	quiet.Lflag |= unix.ICANON | unix.ISIG
	quiet.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		fmt.Fprint(w, prompt)
		return readLine(in)
	}
	restore := func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			restore()
			fmt.Fprintln(w)
			os.Exit(130)
		case <-done:
		}
	}()
	defer func() {
		close(done)
		signal.Stop(sigs)
		restore()
		fmt.Fprintln(w) // the Enter the user typed was not echoed
	}()
	fmt.Fprint(w, prompt)
	return readLine(in)
}
