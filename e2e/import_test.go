package e2e

// totpctl import (PRODUCT.md §9): files written by the real
// google-authenticator command and used by the real
// pam_google_authenticator and pam_oath modules, imported, then logins
// through pamtester and pam_totpd.so with codes oathtool computes.

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// importRowJSON is one element of `totpctl import ... --json`.
type importRowJSON struct {
	User          string   `json:"user"`
	File          string   `json:"file"`
	Result        string   `json:"result"`
	Reason        string   `json:"reason"`
	RecoveryCodes int      `json:"recovery_codes"`
	Notes         []string `json:"notes"`
}

// importGAFile runs google-authenticator as a (non-interactively, the
// way a user would set it up with reuse protection and rate limiting)
// and reports the file's path, its secret and its scratch codes.
func importGAFile(t *testing.T, a account, extra ...string) (path, secret string, scratch []string) {
	t.Helper()
	path = filepath.Join(hostHome(t, a), ".google_authenticator")
	args := append([]string{"-f", "-q", "-C", "-s", path, "-e", "5"}, extra...)
	cmd := exec.Command("google-authenticator", args...)
	cmd.SysProcAttr = ctlCmd(binaries{}, "", &a).SysProcAttr
	cmd.Env = hostEnv("HOME="+hostHome(t, a), "USER="+a.Name)
	r := hostExec(t, cmd, "", 30*time.Second)
	require.Equal(t, 0, r.Code, "google-authenticator %v: %s", args, r)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines[1:] {
		if regexp.MustCompile(`^[1-9][0-9]{7}$`).MatchString(l) {
			scratch = append(scratch, l)
		}
	}
	require.Len(t, scratch, 5)
	return path, lines[0], scratch
}

// importOathtool reports the code oathtool computes now; args select the
// key's encoding and the token (e.g. -b for Base32).
func importOathtool(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("oathtool", append([]string{"--totp"}, args...)...).Output()
	require.NoError(t, err, "oathtool")
	return strings.TrimSpace(string(out))
}

// TestImportGoogleAuthenticator: a file google-authenticator wrote and
// pam_google_authenticator used is imported; the app's next code logs
// in through pam_totpd.so, the code GA already accepted does not (its
// DISALLOW_REUSE step is carried), a scratch code works once; HOTP,
// symlinked and foreign files are refused with their reasons, as --homes
// reports.
func TestImportGoogleAuthenticator(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester", "google-authenticator")
	d := startDaemon(t, b, config{})
	svc := hostPamtesterService(t, module, d.Socket, 5)
	gaSvc := hostService(t, "ga", "auth required pam_google_authenticator.so\naccount required pam_permit.so\n")
	const limit = 30 * time.Second
	alice, bob, carol, dave := newUser(t), newUser(t), newUser(t), newUser(t)

	file, secret, scratch := importGAFile(t, alice, "-t", "-d", "-r", "3", "-R", "30", "-w", "3")
	st, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o400), st.Mode().Perm(), "google-authenticator writes its file 0400")

	// Alice logs in once with pam_google_authenticator itself: the step
	// goes into the file's DISALLOW_REUSE line.
	step := stableStep(t, 12*time.Second)
	used := importOathtool(t, "-b", secret)
	r := hostPamtester(t, gaSvc, alice.Name, used+"\n", limit)
	require.Contains(t, r.Out(), hostPtSuccess, "pam_google_authenticator: %s", r)
	text, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Contains(t, string(text), fmt.Sprintf("\" DISALLOW_REUSE %d", step))

	// A dry run says what it would do and changes nothing.
	c := d.Ctl("import", "google-authenticator", alice.Name, file, "--dry-run")
	require.Equal(t, 0, c.Code, "%s", c)
	require.Equal(t, alice.Name+": would import (5 recovery codes; RATE_LIMIT not carried: totpd's lockout ([lockout] max_failures) applies)\n", c.Stdout)
	require.False(t, d.Show(alice.Name).Enrolled, "a dry run changes nothing")

	c = d.Ctl("import", "google-authenticator", alice.Name, file)
	require.Equal(t, 0, c.Code, "%s", c)
	require.Equal(t, alice.Name+": imported (5 recovery codes; RATE_LIMIT not carried: totpd's lockout ([lockout] max_failures) applies)\n", c.Stdout)
	show := d.Show(alice.Name)
	require.True(t, show.Enrolled)
	require.Equal(t, 5, show.RecoveryCodesLeft)

	// The code GA accepted is refused; the app's next code (the window is
	// ±1, as GA's WINDOW_SIZE 3) logs in.
	r = hostPamtester(t, svc, alice.Name, used+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	require.Contains(t, r.Out(), "already used")
	next := importOathtool(t, "-b", "-N", fmt.Sprintf("@%d", (step+1)*30), secret)
	r = hostPamtester(t, svc, alice.Name, next+"\n", limit)
	requireHostSuccess(t, r, false)

	// A scratch code logs in once.
	r = hostPamtester(t, svc, alice.Name, scratch[2]+"\n", limit)
	requireHostSuccess(t, r, false)
	require.Contains(t, r.Out(), "Recovery code used; 4 left")
	r = hostPamtester(t, svc, alice.Name, scratch[2]+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)

	// Importing again is refused: alice is enrolled in totpd now.
	c = d.Ctl("import", "google-authenticator", alice.Name, file)
	require.Equal(t, 1, c.Code, "%s", c)
	require.Contains(t, c.Stdout, "already enrolled in totpd")

	// Bob's file is a symlink to alice's; carol's is a copy of it owned
	// by alice; dave's is counter-based.
	require.NoError(t, os.Symlink(file, filepath.Join(hostHome(t, bob), ".google_authenticator")))
	carolFile := filepath.Join(hostHome(t, carol), ".google_authenticator")
	require.NoError(t, os.WriteFile(carolFile, text, 0o400))
	require.NoError(t, os.Chown(carolFile, int(alice.UID), int(alice.GID)))
	importGAFile(t, dave, "-c", "-u", "-w", "3")

	c = d.Ctl("import", "google-authenticator", bob.Name, filepath.Join(hostHome(t, bob), ".google_authenticator"))
	require.Equal(t, 1, c.Code, "%s", c)
	require.Contains(t, c.Stdout, bob.Name+": skipped: ")
	require.Contains(t, c.Stdout, "is a symbolic link; import never follows one")

	var rows []importRowJSON
	c = d.Ctl("import", "google-authenticator", "--homes", "--dry-run", "--json")
	require.Equal(t, 1, c.Code, "users were skipped: %s", c)
	require.NoError(t, json.Unmarshal([]byte(c.Stdout), &rows), c.Stdout)
	got := map[string]importRowJSON{}
	for _, row := range rows {
		got[row.User] = row
	}
	for name, want := range map[string]string{
		alice.Name: "already enrolled in totpd",
		bob.Name:   "symbolic link",
		carol.Name: fmt.Sprintf("owned by uid %d, not uid %d", alice.UID, carol.UID),
		dave.Name:  "counter-based (HOTP",
	} {
		require.Equal(t, "skipped", got[name].Result, "%s: %+v", name, got[name])
		require.Contains(t, got[name].Reason, want, name)
	}
	for _, name := range []string{bob.Name, carol.Name, dave.Name} {
		require.False(t, d.Show(name).Enrolled, name)
	}
	// The same as text: one line per user.
	c = d.Ctl("import", "google-authenticator", "--homes", "--dry-run")
	require.Equal(t, 1, c.Code, "%s", c)
	var ours []string
	for _, l := range strings.Split(c.Stdout, "\n") {
		for _, a := range []account{alice, bob, carol, dave} {
			if strings.HasPrefix(l, a.Name+": ") {
				ours = append(ours, l)
			}
		}
	}
	require.Len(t, ours, 4, c.Stdout)
	for _, l := range ours {
		require.Contains(t, l, ": skipped: ")
	}
	t.Logf("totpctl import google-authenticator --homes --dry-run (this test's users):\n%s", strings.Join(ours, "\n"))
	requireNoSecrets(t, d.Stderr()+c.Stdout+c.Stderr, []string{secret}, scratch)
}

// TestImportOath: a usersfile written by hand, used once by pam_oath,
// is imported: the TOTP user logs in with oathtool's code through
// pam_totpd.so, the code pam_oath accepted is refused, and HOTP, PIN and
// unknown users are skipped with the reason; a symlinked usersfile and
// one owned by a user are refused.
func TestImportOath(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	d := startDaemon(t, b, config{})
	svc := hostPamtesterService(t, module, d.Socket, 5)
	const limit = 30 * time.Second
	erin, frank, gina := newUser(t), newUser(t), newUser(t)
	const key = "3132333435363738393031323334353637383930"

	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o700))
	users := hostFile(t, dir, "users.oath", strings.Join([]string{
		"# written by hand, as pam_oath's README shows",
		"HOTP/T30/6 " + erin.Name + " - " + key,
		"HOTP " + frank.Name + " - " + key,
		"HOTP/T30 " + gina.Name + " secretpin " + key,
		"HOTP/T30 no-such-user-" + randHex(3) + " - " + key,
		"",
	}, "\n"), 0o600)
	oathSvc := hostService(t, "oath", "auth required pam_oath.so usersfile="+users+" window=3\naccount required pam_permit.so\n")

	step := stableStep(t, 12*time.Second)
	used := importOathtool(t, key)
	// liboath writes the time of the last use in local time, which
	// totpctl reads back in its own: both in UTC here (ctlCmd sets TZ).
	oathLogin := exec.Command("pamtester", "-v", oathSvc, erin.Name, "authenticate")
	oathLogin.Env = hostEnv("TZ=UTC")
	r := hostExec(t, oathLogin, used+"\n", limit)
	require.Contains(t, r.Out(), hostPtSuccess, "pam_oath: %s", r)

	c := d.Ctl("import", "oath", users, "--dry-run")
	require.Equal(t, 1, c.Code, "users would be skipped: %s", c)
	require.Contains(t, c.Stdout, erin.Name+": would import (0 recovery codes)\n")
	require.False(t, d.Show(erin.Name).Enrolled, "a dry run changes nothing")
	t.Logf("totpctl import oath USERSFILE --dry-run:\n%s", c.Stdout)

	var rows []importRowJSON
	c = d.Ctl("import", "oath", users, "--json")
	require.Equal(t, 1, c.Code, "users were skipped: %s", c)
	require.NoError(t, json.Unmarshal([]byte(c.Stdout), &rows), c.Stdout)
	require.Len(t, rows, 4)
	require.Equal(t, "imported", rows[0].Result, "%+v", rows[0])
	require.Equal(t, users+":2", rows[0].File)
	for i, want := range []string{"", "event-based HOTP", "has a PIN", "no account"} {
		if i > 0 {
			require.Equal(t, "skipped", rows[i].Result, "%+v", rows[i])
			require.Contains(t, rows[i].Reason, want)
		}
	}
	require.True(t, d.Show(erin.Name).Enrolled)
	require.False(t, d.Show(frank.Name).Enrolled)

	r = hostPamtester(t, svc, erin.Name, used+"\n", limit)
	requireHostRefused(t, r, hostPtAuthErr)
	require.Contains(t, r.Out(), "already used", "the code pam_oath accepted")
	next := importOathtool(t, "-N", fmt.Sprintf("@%d", (step+1)*30), key)
	r = hostPamtester(t, svc, erin.Name, next+"\n", limit)
	requireHostSuccess(t, r, false)

	// A symlink to the usersfile, and a usersfile owned by a user.
	link := filepath.Join(dir, "link.oath")
	require.NoError(t, os.Symlink(users, link))
	c = d.Ctl("import", "oath", link)
	require.Equal(t, 1, c.Code, "%s", c)
	require.Contains(t, c.Stderr, "is a symbolic link")
	require.NoError(t, os.Chown(users, int(frank.UID), int(frank.GID)))
	c = d.Ctl("import", "oath", users, "--dry-run")
	require.Equal(t, 1, c.Code, "%s", c)
	require.Contains(t, c.Stderr, fmt.Sprintf("owned by uid %d, not uid 0", frank.UID))
	requireNoSecrets(t, d.Stderr()+c.Stdout+c.Stderr, []string{key}, nil)
}
