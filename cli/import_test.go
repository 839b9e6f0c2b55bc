package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// gaSecret is a 128-bit key as google-authenticator writes one.
const gaSecret = "GEZDGNBVGY3TQOJQGEZDGNBVGY"

// TestParseGA: the files google-authenticator writes, and bad ones.
func TestParseGA(t *testing.T) {
	g, err := parseGA([]byte(gaSecret + "\n\" RATE_LIMIT 3 30 1764640000\n\" WINDOW_SIZE 5\n\" DISALLOW_REUSE 58821333 58821335 58821334\n\" TIME_SKEW -2\n\" TOTP_AUTH\n12345678\n98765432\n"))
	require.NoError(t, err)
	require.Equal(t, wire.ImportSecret{Source: "google-authenticator", Secret: gaSecret, Algorithm: "SHA1", Digits: 6, PeriodSec: 30,
		Window: 2, LastStep: 58821335, DriftSteps: -2, RecoveryCodes: []string{"12345678", "98765432"}}, g.imp)
	require.Equal(t, []string{"RATE_LIMIT not carried: totpd's lockout ([lockout] max_failures) applies"}, g.notes)

	// Defaults: window 3 (±1), 30 s, no reuse protection, CRLF lines.
	g, err = parseGA([]byte(gaSecret + "\r\n\" STEP_SIZE 60\r\n\" TOTP_AUTH\r\n"))
	require.NoError(t, err)
	require.Equal(t, 60, g.imp.PeriodSec)
	require.Equal(t, 1, g.imp.Window)
	require.Equal(t, int64(-1), g.imp.LastStep)
	require.Empty(t, g.imp.RecoveryCodes)
	require.Contains(t, g.notes[0], "accepts each code once")

	for name, c := range map[string]struct{ file, want string }{
		"HOTP":           {gaSecret + "\n\" WINDOW_SIZE 5\n\" HOTP_COUNTER 1\n12345678\n", "counter-based (HOTP, line 3); totpd is TOTP only"},
		"scratch only":   {gaSecret + "\n12345678\n", "neither TOTP_AUTH nor HOTP_COUNTER"},
		"empty":          {"", "first line is not a Base32 secret"},
		"not base32":     {"hello world!\n\" TOTP_AUTH\n", "first line is not a Base32 secret"},
		"bad scratch":    {gaSecret + "\n\" TOTP_AUTH\n01234567\n", "line 3 is neither an option nor an 8-digit scratch code"},
		"garbage":        {gaSecret + "\n\" TOTP_AUTH\nssh-rsa AAAA\n", "line 3 is neither"},
		"bad window":     {gaSecret + "\n\" WINDOW_SIZE 0\n\" TOTP_AUTH\n", "WINDOW_SIZE"},
		"bad step":       {gaSecret + "\n\" STEP_SIZE x\n\" TOTP_AUTH\n", "STEP_SIZE"},
		"bad reuse":      {gaSecret + "\n\" DISALLOW_REUSE 12 x\n\" TOTP_AUTH\n", "DISALLOW_REUSE"},
		"many scratches": {gaSecret + "\n\" TOTP_AUTH\n" + strings.Repeat("12345678\n", wire.MaxImportRecovery+1), "more than 32 scratch codes"},
	} {
		_, err := parseGA([]byte(c.file))
		require.ErrorContains(t, err, c.want, name)
		require.NotContains(t, err.Error(), gaSecret, name)
	}
}

// TestParseOath: a usersfile with every kind of line.
func TestParseOath(t *testing.T) {
	const hexKey = "3132333435363738393031323334353637383930"
	key := []byte("12345678901234567890")
	p := totp.Params{Algorithm: totp.SHA1, Digits: 6, Period: 30 * time.Second}
	usedAt := time.Date(2026, 12, 2, 1, 58, 17, 0, time.UTC)
	usedStep := p.Step(usedAt) - 1 // the code of the step before, within pam_oath's window
	lastOTP, err := p.CodeAt(key, usedStep)
	require.NoError(t, err)
	file := strings.Join([]string{
		"# users.oath",
		"HOTP/T30 alice - " + hexKey,
		"HOTP/T60/8\tbob\t-\t" + hexKey + "\t0",
		"HOTP/T30/6 carol - " + hexKey + " 0 " + lastOTP + " " + usedAt.Format(oathTimeLayout),
		"HOTP dave - " + hexKey,
		"HOTP/E/8 erin - " + hexKey + " 12",
		"HOTP/T30 frank 1234 " + hexKey,
		"HOTP/T30 grace - zz",
		"HOTP/T45 heidi - " + hexKey,
		"HOTP/T30 ivan - " + hexKey,
		"HOTP/T60 ivan - " + hexKey,
		"",
	}, "\n")
	users, err := parseOath([]byte(file), time.UTC)
	require.NoError(t, err)
	got := map[string]*oathUser{}
	var order []string
	for _, u := range users {
		got[u.user] = u
		order = append(order, u.user)
	}
	require.Equal(t, []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan"}, order)
	require.NoError(t, got["alice"].err)
	require.Equal(t, &wire.ImportSecret{Source: "oath", Secret: totp.EncodeSecret(key), Algorithm: "SHA1", Digits: 6, PeriodSec: 30, Window: -1, LastStep: -1}, got["alice"].imp)
	require.Equal(t, 8, got["bob"].imp.Digits)
	require.Equal(t, 60, got["bob"].imp.PeriodSec)
	require.Equal(t, usedStep, got["carol"].imp.LastStep, "the step of the last code used")
	require.Empty(t, got["carol"].notes)
	for user, want := range map[string]string{
		"dave": "event-based HOTP", "erin": "event-based HOTP", "frank": "has a PIN", "grace": "not hexadecimal",
		"heidi": "unknown token type", "ivan": "lines 10 and 11",
	} {
		require.ErrorContains(t, got[user].err, want, user)
		require.Nil(t, got[user].imp, user)
		require.NotContains(t, got[user].err.Error(), hexKey)
		require.NotContains(t, got[user].err.Error(), "1234")
	}

	_, err = parseOath([]byte("HOTP/T30 alice\n"), time.UTC)
	require.ErrorContains(t, err, "line 1 has 2 fields")
	_, err = parseOath([]byte("HOTP/T30 alice - "+hexKey+" 0 123456 yesterday\n"), time.UTC)
	require.NoError(t, err, "a bad time fails that user, not the file")
}

// TestReadOwnedFile: symlinks, FIFOs, another owner and loose modes are
// refused; the user's own 0400 file is read.
func TestReadOwnedFile(t *testing.T) {
	dir := t.TempDir()
	me := uint32(os.Getuid())
	good := filepath.Join(dir, "good")
	require.NoError(t, os.WriteFile(good, []byte("x"), 0o400))
	b, err := readOwnedFile(good, me)
	require.NoError(t, err)
	require.Equal(t, "x", string(b))

	link := filepath.Join(dir, "link")
	require.NoError(t, os.Symlink(good, link))
	_, err = readOwnedFile(link, me)
	require.ErrorContains(t, err, "symbolic link")

	_, err = readOwnedFile(good, me+1)
	require.ErrorContains(t, err, "owned by uid")

	loose := filepath.Join(dir, "loose")
	require.NoError(t, os.WriteFile(loose, []byte("x"), 0o600))
	require.NoError(t, os.Chmod(loose, 0o620))
	_, err = readOwnedFile(loose, me)
	require.ErrorContains(t, err, "chmod go-w")

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	_, err = readOwnedFile(fifo, me)
	require.ErrorContains(t, err, "not a regular file")

	_, err = readOwnedFile(dir, me)
	require.ErrorContains(t, err, "not a regular file")
	_, err = readOwnedFile(filepath.Join(dir, "none"), me)
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestImportGACommand: what the daemon is sent, the lines printed, the
// exit status when a user is skipped, and --json.
func TestImportGACommand(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ga")
	require.NoError(t, os.WriteFile(file, []byte(gaSecret+"\n\" DISALLOW_REUSE 100\n\" TOTP_AUTH\n12345678\n"), 0o400))
	me := uint32(os.Getuid())
	old := lookupImportAccount
	t.Cleanup(func() { lookupImportAccount = old })
	lookupImportAccount = func(name string) (importAccount, error) { return importAccount{name: name, uid: me}, nil }

	fd := &fakeDaemon{answer: func(req wire.Request) *wire.Response {
		if req.User == "bob" {
			return refused(wire.ErrCodeDenied, "bob is already enrolled in totpd")
		}
		return &wire.Response{Messages: []wire.Message{{Text: "window: note"}}}
	}}
	r := runFake(t, fd, "", "import", "google-authenticator", "alice", file, "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "alice: would import (1 recovery codes; window: note)\n", r.stdout)
	req := fd.requests()[0]
	require.Equal(t, wire.OpImport, req.Op)
	require.True(t, req.Import.DryRun)
	require.Equal(t, int64(100), req.Import.LastStep)
	require.Equal(t, me, *req.Import.FileUID)
	require.NotContains(t, r.stdout+r.stderr, "12345678")

	r = runFake(t, fd, "", "import", "google-authenticator", "bob", file)
	require.Equal(t, 1, r.code)
	require.Equal(t, "bob: skipped: bob is already enrolled in totpd\n", r.stdout)

	r = runFake(t, fd, "", "import", "google-authenticator", "alice", file+".missing", "--json")
	require.Equal(t, 1, r.code)
	var rows []importRow
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &rows))
	require.Len(t, rows, 1)
	require.Equal(t, "skipped", rows[0].Result)
	require.Contains(t, rows[0].Reason, "no such file")

	r = runFake(t, fd, "", "import", "google-authenticator", "alice", file, "--homes")
	require.Equal(t, 2, r.code)
	r = runFake(t, fd, "", "import", "google-authenticator", "alice")
	require.Equal(t, 2, r.code)
}
