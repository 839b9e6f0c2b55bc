package hostkit

import (
	"strings"
	"testing"
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
