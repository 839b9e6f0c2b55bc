package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/daemon/qrterm"
	"github.com/totpd/totpd/daemon/wire"
)

// wizardDaemon begins an enrollment asking for confirm codes and accepts
// the codes in good (refusing others).
func wizardDaemon(confirm int, good ...string) *fakeDaemon {
	return &fakeDaemon{answer: func(req wire.Request) *wire.Response {
		switch req.Op {
		case wire.OpEnrollBegin:
			return &wire.Response{Enrollment: &wire.Enrollment{User: "alice", Secret: testSecret, URI: testURI, ConfirmCodes: confirm}}
		case wire.OpEnrollConfirm:
			if strings.Join(req.Codes, ",") == strings.Join(good, ",") {
				return &wire.Response{Enrollment: &wire.Enrollment{User: "alice", RecoveryCodes: testRecovery}}
			}
			return refused(wire.ErrCodeDenied, "those codes do not match the new key")
		}
		return refused(wire.ErrCodeBadRequest, "unexpected")
	}}
}

func TestEnrollWizard(t *testing.T) {
	f := wizardDaemon(2, "123456", "654321")
	r := runFake(t, f, "12ab56\n123 456\n654321\n", "enroll", "--qr", "none")
	require.Equal(t, exitOK, r.code, r.stderr)
	golden(t, "enroll-wizard.txt", r.stdout)
	require.Contains(t, r.stdout, "Code 1 of 2: ")
	require.Contains(t, r.stdout, "Code 2 of 2: ")
	require.Contains(t, r.stdout, "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP")
	require.Contains(t, r.stdout, testURI)
	for _, c := range testRecovery {
		require.Contains(t, r.stdout, c)
	}
	for _, typed := range []string{"123456", "123 456", "654321", "12ab56"} {
		require.NotContains(t, r.stdout, typed)
		require.NotContains(t, r.stderr, typed)
	}
	reqs := f.requests()
	require.Len(t, reqs, 2, "the malformed code never reaches the daemon")
	require.Equal(t, wire.Request{Op: wire.OpEnrollBegin}, reqs[0])
	require.Equal(t, wire.Request{Op: wire.OpEnrollConfirm, Codes: []string{"123456", "654321"}}, reqs[1])
}

func TestEnrollWizardRetry(t *testing.T) {
	f := wizardDaemon(1, "222222")
	r := runFake(t, f, "111111\n222222\n", "enroll", "--qr", "utf8")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Equal(t, "totpctl: those codes do not match the new key\n", r.stderr)
	require.Equal(t, 2, strings.Count(r.stdout, "Code: "))
	require.Contains(t, r.stdout, "█")
	require.Contains(t, r.stdout, testRecovery[0])

	// Three refusals end it with exit 1.
	f = wizardDaemon(1, "999999")
	r = runFake(t, f, "111111\n222222\n333333\n444444\n", "enroll", "--qr", "none")
	require.Equal(t, exitFailed, r.code)
	require.Len(t, f.requests(), 1+maxConfirmAttempts)
	require.NotContains(t, r.stdout, testRecovery[0])

	// End of input: exit 1, nothing confirmed.
	f = wizardDaemon(2, "123456", "654321")
	r = runFake(t, f, "123456\n", "enroll", "--qr", "none")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "no code given")
	require.Len(t, f.requests(), 1)

	// The daemon refuses to begin (e.g. not allowed): its message, exit 1.
	r = runFake(t, fixed(*refused(wire.ErrCodePermission, "enrollment is disabled for root")), "", "enroll")
	require.Equal(t, exitFailed, r.code)
	require.Equal(t, "totpctl: enrollment is disabled for root\n", r.stderr)
}

// TestUserEnrollPNG checks that --qr-png writes the enrollment's QR code
// as qrterm.WritePNG draws it (daemon/qrterm checks that such a file scans,
// is mode 0600 and is replaced atomically).
func TestUserEnrollPNG(t *testing.T) {
	want := filepath.Join(t.TempDir(), "want.png")
	require.NoError(t, qrterm.WritePNG(want, testURI))
	wantPNG, err := os.ReadFile(want)
	require.NoError(t, err)

	dir := t.TempDir()
	enr := wire.Enrollment{User: "alice", Secret: testSecret, URI: testURI, RecoveryCodes: testRecovery}
	for _, args := range [][]string{{"--json"}, {"--qr", "none"}} {
		file := filepath.Join(dir, "alice.png")
		require.NoError(t, os.WriteFile(file, []byte("old"), 0o644)) // replaced, not reused
		r := runFake(t, fixed(wire.Response{Enrollment: &enr}), "", append([]string{"user", "enroll", "alice", "--qr-png", file}, args...)...)
		require.Equal(t, exitOK, r.code, r.stderr)
		got, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, wantPNG, got, "the QR code of the enrollment's URI")
		fi, err := os.Stat(file)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		if args[0] != "--json" {
			require.Contains(t, r.stdout, "  PNG:     "+file+" (mode 0600")
		}
	}

	// A PNG that cannot be written: the enrollment is still shown, exit 1.
	r := runFake(t, fixed(wire.Response{Enrollment: &enr}), "", "user", "enroll", "alice", "--qr", "none",
		"--qr-png", filepath.Join(dir, "missing", "x.png"))
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stdout, testSecret[:4])
	require.NotContains(t, r.stdout, "PNG:")
	require.Contains(t, r.stderr, "totpctl: writing ")
}
