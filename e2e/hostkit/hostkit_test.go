package hostkit

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/totpd/totpd/e2e/testutils"
)

func TestAdaptStack(t *testing.T) {
	in := "# pam_totpd.so in a comment stays\n" +
		"auth [success=done ignore=ignore default=die]  pam_totpd.so\n" +
		"auth required pam_totpd.so debug\n" +
		"auth required pam_totpd.sox\n" +
		"auth required pam_permit.so\n"
	out, err := AdaptStack(in, "/b/pam_totpd.so", "/t/s.sock", 7)
	if err != nil {
		t.Fatal(err)
	}
	want := "# pam_totpd.so in a comment stays\n" +
		"auth [success=done ignore=ignore default=die]  /b/pam_totpd.so socket=/t/s.sock timeout=7\n" +
		"auth required /b/pam_totpd.so socket=/t/s.sock timeout=7 debug\n" +
		"auth required pam_totpd.sox\n" +
		"auth required pam_permit.so\n"
	if out != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	if _, err := AdaptStack("auth required pam_permit.so\n# pam_totpd.so\n", "/m", "/s", 1); err == nil || !strings.Contains(err.Error(), "no pam_totpd.so line") {
		t.Fatalf("a stack without the module: err = %v", err)
	}
}

func TestPrivate(t *testing.T) {
	testutils.RequireRoot(t, "it mounts")
	testutils.RequireTools(t, "util-linux", "unshare", "mount")
	etc, empty, covered := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(etc, "totpd-private-test"), []byte("overlaid\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(covered, "hidden"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	argv, err := Private{Etc: etc, Binds: []Bind{{Src: empty, Dst: covered}}, MarkFD3: true}.Argv(
		"sh", "-c", `cat /etc/totpd-private-test; ls -A "$1"; [ -e /proc/self/fd/3 ] && echo fd3 || echo no-fd3`, "sh", covered)
	if err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.ExtraFiles = []*os.File{pw}
	out, err := cmd.CombinedOutput()
	pw.Close()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := string(out); got != "overlaid\nno-fd3\n" {
		t.Fatalf("inside the namespace: %q, want the overlaid file, an empty covered directory and no fd 3", got)
	}
	mark, _ := io.ReadAll(pr)
	if string(mark) != "exec\n" {
		t.Fatalf("fd 3 got %q, want the exec mark", mark)
	}
	if _, err := os.Stat(filepath.Join(covered, "hidden")); err != nil {
		t.Fatalf("outside, the covered directory is as it was: %v", err)
	}
	if _, err := (Private{Etc: "/a:b"}).Argv(); err == nil {
		t.Fatal("a lowerdir with ':' must be refused")
	}
}
