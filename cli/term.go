package main

import (
	"errors"
	"io"
	"strings"
)

// maxLine bounds a line read from stdin.
const maxLine = 256

// readLine reads one line from r a byte at a time, so that nothing past
// the newline is consumed and later prompts read the following lines.
func readLine(r io.Reader) (string, error) {
	var b strings.Builder
	var c [1]byte
	for {
		n, err := r.Read(c[:])
		if n == 1 {
			if c[0] == '\n' {
				return strings.TrimRight(b.String(), "\r"), nil
			}
			if b.Len() < maxLine {
				b.WriteByte(c[0])
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) && b.Len() > 0 {
				return strings.TrimRight(b.String(), "\r"), nil
			}
			return "", err
		}
	}
}
