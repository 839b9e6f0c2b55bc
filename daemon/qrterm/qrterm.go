// Package qrterm draws QR codes for a terminal, as UTF-8 half blocks or
// ANSI colours, and writes them as PNG files. totpctl and the PAM module
// both show enrollment QR codes with it. It is the only package that links
// the QR encoder, and package enrolltext takes a code already drawn, so a
// client can show an enrollment without linking this one.
package qrterm

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// Styles for Render (totpctl's --qr).
const (
	// None draws nothing.
	None = "none"
	// UTF8 draws half blocks in the terminal's own colours.
	UTF8 = "utf8"
	// ANSI draws with explicit black and white colours.
	ANSI = "ansi"
)

// Width is the terminal width, in columns, a QR code should fit in.
const Width = 80

// quietZone is the light margin the QR standard asks for, in modules.
const quietZone = 4

// ANSI SGR sequences for ANSI: explicit colours, so the code reads the
// same on light and dark terminals.
const (
	ansiLight = "\x1b[107m" // bright white background
	ansiDark  = "\x1b[40m"  // black background
	ansiReset = "\x1b[0m"
	// Foregrounds for the half blocks of large symbols.
	ansiFgLight = "\x1b[97m"
	ansiFgDark  = "\x1b[30m"
)

// CheckStyle reports an error unless s is None, UTF8 or ANSI.
func CheckStyle(s string) error {
	switch s {
	case None, UTF8, ANSI:
		return nil
	}
	return fmt.Errorf("unknown QR style %q: want %s, %s or %s", s, None, UTF8, ANSI)
}

// Modules encodes content and reports its modules without a quiet zone,
// true meaning dark. Low error correction keeps the symbol small: a screen
// is not a damaged label, and bigger modules scan more easily.
func Modules(content string) ([][]bool, error) {
	q, err := qrcode.New(content, qrcode.Low)
	if err != nil {
		return nil, fmt.Errorf("making the QR code: %w", err)
	}
	q.DisableBorder = true
	return q.Bitmap(), nil
}

// withQuietZone reports m surrounded by quiet light modules.
func withQuietZone(m [][]bool, quiet int) [][]bool {
	n := len(m) + 2*quiet
	out := make([][]bool, n)
	for y := range out {
		out[y] = make([]bool, n)
		if y >= quiet && y < quiet+len(m) {
			copy(out[y][quiet:], m[y-quiet])
		}
	}
	return out
}

// Render writes content as a QR code for a terminal in style, which
// CheckStyle accepts.
//
// UTF8: one column per module and two modules per line, with the half
// blocks ▀ ▄ █ and space. Blocks draw the LIGHT modules (and the quiet
// zone) and spaces leave the DARK modules in the terminal's background
// colour. This is the convention of `qrencode -t UTF8`: on the usual
// dark-background terminal it shows dark modules on a light square, the
// way every scanner expects, and the quiet zone is drawn rather than
// assumed. On a light-background terminal the code appears inverted; most
// scanners still read it, and ANSI removes the doubt.
//
// ANSI: explicit black and white colours, so the result does not depend
// on the terminal's colours. Two spaces a module on a coloured background
// (no UTF-8 needed) when that fits Width columns with a quiet zone of 2 or
// 1 modules (the colours draw it, so it need not be wide): versions 1 to
// 5, URIs up to about 100 bytes. Larger symbols would need 86 columns or
// more and 40 lines or more, so they are drawn like UTF8 but with ▀
// coloured explicitly (foreground the top module, background the bottom
// one).
//
// None writes nothing.
func Render(w io.Writer, content, style string) error {
	if err := CheckStyle(style); err != nil {
		return err
	}
	if style == None {
		return nil
	}
	m, err := Modules(content)
	if err != nil {
		return err
	}
	var b strings.Builder
	if style == ANSI {
		quiet := 2
		if (len(m)+2*quiet)*2 > Width {
			quiet = 1
		}
		if (len(m)+2*quiet)*2 <= Width {
			writeANSIBlocks(&b, withQuietZone(m, quiet))
		} else {
			writeANSIHalfBlocks(&b, withQuietZone(m, quietFor(len(m))))
		}
	} else {
		writeHalfBlocks(&b, withQuietZone(m, quietFor(len(m))))
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// Fit reports content drawn as Render draws UTF8, or "" when that would
// be wider than Width columns (where the caller cannot let it wrap).
func Fit(content string) (string, error) {
	m, err := Modules(content)
	if err != nil {
		return "", err
	}
	bm := withQuietZone(m, quietFor(len(m)))
	if len(bm) > Width {
		return "", nil
	}
	var b strings.Builder
	writeHalfBlocks(&b, bm)
	return b.String(), nil
}

// quietFor reports the quiet zone for a symbol of n modules drawn one
// column a module: the standard 4, or 2 when 4 would pass Width columns.
func quietFor(n int) int {
	if n+2*quietZone > Width {
		return 2
	}
	return quietZone
}

// writeHalfBlocks draws bm two modules a line, the light ones as blocks
// and the dark ones as spaces; below the last row counts as dark.
func writeHalfBlocks(b *strings.Builder, bm [][]bool) {
	light := func(y, x int) bool { return y < len(bm) && !bm[y][x] }
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			top, bottom := light(y, x), light(y+1, x)
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
}

// writeANSIBlocks draws each module as two spaces on a black or white background.
func writeANSIBlocks(b *strings.Builder, bm [][]bool) {
	for _, row := range bm {
		cur := ""
		for _, dark := range row {
			want := ansiLight
			if dark {
				want = ansiDark
			}
			if want != cur {
				b.WriteString(want)
				cur = want
			}
			b.WriteString("  ")
		}
		b.WriteString(ansiReset + "\n")
	}
}

// writeANSIHalfBlocks draws two modules a cell as ▀ with the top module's
// colour in the foreground and the bottom one's in the background.
func writeANSIHalfBlocks(b *strings.Builder, bm [][]bool) {
	for y := 0; y < len(bm); y += 2 {
		cur := ""
		for x := range bm[y] {
			top := bm[y][x]
			bottom := false // below the last row: light
			if y+1 < len(bm) {
				bottom = bm[y+1][x]
			}
			fg, bg := ansiFgLight, ansiLight
			if top {
				fg = ansiFgDark
			}
			if bottom {
				bg = ansiDark
			}
			if want := fg + bg; want != cur {
				b.WriteString(want)
				cur = want
			}
			b.WriteString("▀")
		}
		b.WriteString(ansiReset + "\n")
	}
}

// pngScale is the least number of pixels per module in a PNG.
const pngScale = 8

// WritePNG writes content as a PNG QR code to path with mode 0600 (it may
// hold a secret), replacing any file there atomically. Medium error
// correction: a PNG may be printed and handed over.
func WritePNG(path, content string) error {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return fmt.Errorf("making the QR code: %w", err)
	}
	// A whole number of pixels per module keeps every module the same size.
	n := len(q.Bitmap())
	scale := max(pngScale, (256+n-1)/n)
	img, err := q.PNG(-scale)
	if err != nil {
		return fmt.Errorf("making the QR code: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".qrterm-*.png") // created 0600
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := f.Write(img); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
