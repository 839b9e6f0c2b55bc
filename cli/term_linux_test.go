//go:build linux

package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/totpd/totpd/e2e/testutils"
)

// On a real terminal the prompt is shown, what is typed is not echoed,
// and the terminal's echo is back on afterwards.
func TestReadLineNoEchoOnPty(t *testing.T) {
	ptm, tty, err := pty.Open()
	require.NoError(t, err)
	defer ptm.Close()
	defer tty.Close()
	require.True(t, isTerminal(tty))

	var screen testutils.LockedBuffer
	go io.Copy(&screen, ptm) // what the terminal shows; ends when ptm closes

	var prompts bytes.Buffer
	type result struct {
		line string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		line, err := readLineNoEcho(tty, &prompts, "Current code or a recovery code: ")
		done <- result{line, err}
	}()
	// Type only once echo is off, as a person would after the prompt.
	testutils.WaitFor(t, 5*time.Second, "echo to be turned off", func() bool {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		require.NoError(t, err)
		return tio.Lflag&unix.ECHO == 0
	})
	_, err = ptm.Write([]byte("987654\r"))
	require.NoError(t, err)
	var r result
	select {
	case r = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("readLineNoEcho did not return")
	}
	require.NoError(t, r.err)
	require.Equal(t, "987654", r.line)
	require.Equal(t, "Current code or a recovery code: \n", prompts.String())

	// Something typed now is echoed again, so the terminal shows it; what
	// was typed before, the code, never appeared.
	_, err = ptm.Write([]byte("echoed\r"))
	require.NoError(t, err)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(screen.String(), "echoed") {
		require.True(t, time.Now().Before(deadline), "echo is not back on: %q", screen.String())
		time.Sleep(5 * time.Millisecond)
	}
	require.NotContains(t, screen.String(), "987654", "the code was echoed")
}
