package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRenderQRScans draws the text QR code as a dark-background terminal
// shows it (blocks light, spaces dark) and has zbarimg read it back.
func TestRenderQRScans(t *testing.T) {
	if _, err := exec.LookPath("zbarimg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("zbarimg is missing (Debian: apt install zbar-tools)")
		}
		t.Skip("zbarimg is missing (Debian: apt install zbar-tools)")
	}
	uri := "otpauth://totp/host.example:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=host.example&algorithm=SHA1&digits=6&period=30"
	qr, err := renderQR(uri)
	require.NoError(t, err)
	rows := strings.Split(strings.TrimSuffix(qr, "\n"), "\n")
	const scale = 8
	w := len([]rune(rows[0]))
	img := image.NewGray(image.Rect(0, 0, w*scale, 2*len(rows)*scale))
	for y, row := range rows {
		for x, r := range []rune(row) {
			top, bottom := r == '█' || r == '▀', r == '█' || r == '▄'
			for dy := 0; dy < scale; dy++ {
				for dx := 0; dx < scale; dx++ {
					img.SetGray(x*scale+dx, 2*y*scale+dy, gray(top))
					img.SetGray(x*scale+dx, (2*y+1)*scale+dy, gray(bottom))
				}
			}
		}
	}
	path := filepath.Join(t.TempDir(), "qr.png")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, png.Encode(f, img))
	require.NoError(t, f.Close())
	out, err := exec.Command("zbarimg", "--raw", "-q", path).Output()
	require.NoError(t, err, "zbarimg could not read the QR code")
	require.Equal(t, uri, strings.TrimSpace(string(out)))
}

func gray(light bool) color.Gray {
	if light {
		return color.Gray{Y: 255}
	}
	return color.Gray{Y: 0}
}
