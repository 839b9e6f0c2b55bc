package main

import (
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// qrWidth is the terminal width the QR code must fit in.
const qrWidth = 80

// renderQR draws content as a QR code in UTF-8 half blocks, two modules
// a line, one a column; "" when it would not fit qrWidth columns. As with
// `qrencode -t UTF8` (and cli/qr.go), blocks draw the light modules and
// the quiet zone, and spaces leave the dark ones in the terminal's
// background colour: dark modules on a light square on the usual dark
// terminal.
func renderQR(content string) (string, error) {
	q, err := qrcode.New(content, qrcode.Low)
	if err != nil {
		return "", err
	}
	q.DisableBorder = true
	m := q.Bitmap()
	quiet := 4
	if len(m)+2*quiet > qrWidth {
		quiet = 2
	}
	n := len(m) + 2*quiet
	if n > qrWidth {
		return "", nil
	}
	light := func(y, x int) bool {
		y, x = y-quiet, x-quiet
		return y < 0 || x < 0 || y >= len(m) || x >= len(m) || !m[y][x]
	}
	var b strings.Builder
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			top, bottom := light(y, x), y+1 < n && light(y+1, x)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}
