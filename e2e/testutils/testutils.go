// Package testutils holds the helpers every end-to-end suite shares, so
// that each rule (when a missing prerequisite fails rather than skips, how
// to wait for a condition) is written once.
package testutils

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// InCI reports whether the tests run under CI (CI=true), where a missing
// prerequisite is a failure, never a skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// Unmet stops a test whose prerequisite is missing: a failure under CI or
// as root (where `make deps` installs everything and nothing may be left
// untested), a skip for a developer without root.
func Unmet(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if InCI() || os.Geteuid() == 0 {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// RequireRoot stops a test that needs root (why says what for): a failure
// under CI, a skip elsewhere.
func RequireRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if InCI() {
		t.Fatalf("this test needs root (%s); CI=true, so this is a failure", why)
	}
	t.Skipf("this test needs root (%s): run it with sudo", why)
}

// RequireTools stops a test when a program it needs is not on PATH, by
// Unmet's rule; hint names the Debian packages to install.
func RequireTools(t testing.TB, hint string, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			Unmet(t, "%s is not installed (Debian: %s; `make deps` installs them): %v", tool, hint, err)
		}
	}
}

// WaitFor polls cond every few milliseconds until it holds or timeout
// passes; then the test fails, naming what it waited for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
