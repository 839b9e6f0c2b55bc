//go:build !linux

package main

import (
	"fmt"
	"io"
	"os"
)

func isTerminal(f *os.File) bool { return false }

func readLineNoEcho(in *os.File, w io.Writer, prompt string) (string, error) {
	fmt.Fprint(w, prompt)
	return readLine(in)
}
