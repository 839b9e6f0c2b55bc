package qrterm

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/e2e/testutils"
)

const (
	testSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	testURI    = "otpauth://totp/myhost:alice?secret=" + testSecret + "&issuer=myhost&algorithm=SHA1&digits=6&period=30"
)

// zbarimg reports the path of zbarimg, skipping the test when it is
// missing, except in CI or as root where the check must run.
func zbarimg(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("zbarimg")
	if err == nil {
		return path
	}
	testutils.Unmet(t, "zbarimg is needed to check QR codes (apt-get install zbar-tools): %v", err)
	return ""
}

// decodeQR reports what zbarimg reads in the image file.
func decodeQR(t *testing.T, file string) string {
	t.Helper()
	out, err := exec.Command(zbarimg(t), "--raw", "-q", file).Output()
	require.NoError(t, err, "zbarimg could not read %s", file)
	return strings.TrimSuffix(string(out), "\n")
}

// uriOfLength makes a realistic otpauth URI of n characters (n >= 80).
func uriOfLength(n int) string {
	u := "otpauth://totp/host:?secret=" + testSecret + "&issuer=host&digits=6&period=30"
	return strings.Replace(u, "host:", "host:"+strings.Repeat("a", n-len(u)), 1)
}

// termImage paints terminal output as a terminal would: each cell s
// pixels wide and 2s high, in the default colours fgLight/bgLight until
// an SGR sequence sets black or white, with a margin of terminal
// background around. It understands exactly what Render writes.
func termImage(t *testing.T, text string, fgLight, bgLight bool) image.Image {
	t.Helper()
	type cell struct{ top, bottom bool } // light halves
	var grid [][]cell
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		fg, bg := fgLight, bgLight
		var row []cell
		for len(line) > 0 {
			if strings.HasPrefix(line, "\x1b[") {
				end := strings.IndexByte(line, 'm')
				require.Positive(t, end, "unterminated SGR")
				for _, p := range strings.Split(line[2:end], ";") {
					switch p {
					case "0":
						fg, bg = fgLight, bgLight
					case "30":
						fg = false
					case "97":
						fg = true
					case "40":
						bg = false
					case "107":
						bg = true
					default:
						t.Fatalf("unexpected SGR parameter %q", p)
					}
				}
				line = line[end+1:]
				continue
			}
			r, size := utf8.DecodeRuneInString(line)
			line = line[size:]
			switch r {
			case '█':
				row = append(row, cell{fg, fg})
			case '▀':
				row = append(row, cell{fg, bg})
			case '▄':
				row = append(row, cell{bg, fg})
			case ' ':
				row = append(row, cell{bg, bg})
			default:
				t.Fatalf("unexpected rune %q", r)
			}
		}
		if len(grid) > 0 {
			require.Len(t, row, len(grid[0]), "ragged line %d", len(grid))
		}
		grid = append(grid, row)
	}
	const s, m = 6, 4 // pixels a cell column, margin cells
	w, h := len(grid[0])+2*m, len(grid)+2*m
	img := image.NewGray(image.Rect(0, 0, w*s, h*2*s))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := cell{bgLight, bgLight}
			if y >= m && y < m+len(grid) && x >= m && x < m+len(grid[0]) {
				c = grid[y-m][x-m]
			}
			for dy := 0; dy < 2*s; dy++ {
				light := c.top
				if dy >= s {
					light = c.bottom
				}
				if light {
					for dx := 0; dx < s; dx++ {
						img.SetGray(x*s+dx, y*2*s+dy, color.Gray{Y: 255})
					}
				}
			}
		}
	}
	return img
}

// savePNG writes img to a temporary PNG file and reports its path.
func savePNG(t *testing.T, img image.Image) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, png.Encode(&b, img))
	file := filepath.Join(t.TempDir(), "qr.png")
	require.NoError(t, os.WriteFile(file, b.Bytes(), 0o600))
	return file
}

// lines reports the lines of terminal output, without colours.
func lines(out string) []string {
	rows := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for i, r := range rows {
		rows[i] = regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(r, "")
	}
	return rows
}

func TestTerminalQRDecodes(t *testing.T) {
	zbarimg(t)
	uris := []string{"otpauth://totp/h:a?secret=JBSWY3DPEHPK3PXP"} // small: ansi draws two-space blocks
	for _, n := range []int{100, len(testURI), 130, 160, 250} {
		uris = append(uris, uriOfLength(n))
	}
	for _, uri := range uris {
		t.Run(fmt.Sprint(len(uri)), func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			require.NoError(t, Render(&b, uri, UTF8))
			out := b.String()
			for _, line := range lines(out) {
				require.LessOrEqual(t, utf8.RuneCountInString(line), Width, "utf8 QR for a %d-char URI fits 80 columns", len(uri))
			}
			// utf8 is drawn for a dark terminal: light text on black.
			require.Equal(t, uri, decodeQR(t, savePNG(t, termImage(t, out, true, false))), "utf8, %d chars", len(uri))
			fit, err := Fit(uri)
			require.NoError(t, err)
			require.Equal(t, out, fit, "Fit draws as Render draws utf8")

			b.Reset()
			require.NoError(t, Render(&b, uri, ANSI))
			out = b.String()
			for _, line := range lines(out) {
				require.LessOrEqual(t, utf8.RuneCountInString(line), Width, "ansi QR for a %d-char URI fits 80 columns", len(uri))
			}
			if len(uri) < 60 {
				require.Contains(t, out, ansiLight+"  ", "two-space blocks")
				require.NotContains(t, out, "▀")
			}
			// ansi reads the same on dark and light terminals.
			for _, light := range []bool{false, true} {
				require.Equal(t, uri, decodeQR(t, savePNG(t, termImage(t, out, !light, light))), "ansi, %d chars, light terminal %v", len(uri), light)
			}
		})
	}
}

func TestQRFitsEighty(t *testing.T) {
	// A ~100-character URI: utf8 with the full quiet zone fits 80 columns
	// and half a 24-line screen's worth of lines more or less.
	uri := uriOfLength(100)
	require.Len(t, uri, 100)
	m, err := Modules(uri)
	require.NoError(t, err)
	require.LessOrEqual(t, len(m), 41, "version 6 or less")
	var b strings.Builder
	require.NoError(t, Render(&b, uri, UTF8))
	rows := lines(b.String())
	require.Equal(t, len(m)+2*quietZone, utf8.RuneCountInString(rows[0]))
	require.LessOrEqual(t, len(rows), 25)

	b.Reset()
	require.NoError(t, Render(&b, uri, None))
	require.Empty(t, b.String())
}

// TestFitScans draws Fit's text as a dark-background terminal shows it
// (blocks light, spaces dark) and has zbarimg read it back.
func TestFitScans(t *testing.T) {
	zbarimg(t)
	uri := "otpauth://totp/host.example:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=host.example&algorithm=SHA1&digits=6&period=30"
	qr, err := Fit(uri)
	require.NoError(t, err)
	require.Equal(t, uri, decodeQR(t, savePNG(t, termImage(t, qr, true, false))))
}

func TestFitWidth(t *testing.T) {
	uri := "otpauth://totp/" + strings.Repeat("example", 5) + ":alice?secret=" + strings.Repeat("A", 103) + "&issuer=" + strings.Repeat("example", 5) + "&algorithm=SHA512&digits=8&period=30"
	for _, content := range []string{"otpauth://totp/h:a?secret=JBSWY3DPEHPK3PXP", uri} {
		qr, err := Fit(content)
		require.NoError(t, err)
		require.NotEmpty(t, qr)
		rows := lines(qr)
		for _, r := range rows {
			require.LessOrEqual(t, utf8.RuneCountInString(r), Width)
			require.Equal(t, utf8.RuneCountInString(rows[0]), utf8.RuneCountInString(r))
		}
		// The quiet zone is drawn: the first row is all light.
		require.Equal(t, strings.Repeat("█", utf8.RuneCountInString(rows[0])), rows[0])
	}
	// Too much for 80 columns: no QR code (Render still draws it).
	long := strings.Repeat("x", 1200)
	qr, err := Fit(long)
	require.NoError(t, err)
	require.Empty(t, qr)
	var b strings.Builder
	require.NoError(t, Render(&b, long, UTF8))
	require.Greater(t, utf8.RuneCountInString(lines(b.String())[0]), Width)

	// Too much for any QR code.
	_, err = Fit(strings.Repeat("x", 5000))
	require.ErrorContains(t, err, "making the QR code")
}

func TestCheckStyle(t *testing.T) {
	for _, s := range []string{None, UTF8, ANSI} {
		require.NoError(t, CheckStyle(s))
	}
	for _, s := range []string{"", "UTF8", "png"} {
		require.Error(t, CheckStyle(s), "style %q", s)
		var b strings.Builder
		require.Error(t, Render(&b, testURI, s), "style %q", s)
		require.Empty(t, b.String())
	}
}

func TestWritePNG(t *testing.T) {
	zbarimg(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "alice.png")
	require.NoError(t, os.WriteFile(file, []byte("old"), 0o644)) // replaced, not reused
	require.NoError(t, WritePNG(file, testURI))

	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	f, err := os.Open(file)
	require.NoError(t, err)
	img, err := png.Decode(f)
	f.Close()
	require.NoError(t, err)
	require.GreaterOrEqual(t, img.Bounds().Dx(), 256)
	require.Equal(t, testURI, decodeQR(t, file))

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary file left behind")

	err = WritePNG(filepath.Join(dir, "missing", "x.png"), testURI)
	require.ErrorContains(t, err, "writing "+filepath.Join(dir, "missing", "x.png"))
}
