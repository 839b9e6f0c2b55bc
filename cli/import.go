package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/names"
	"github.com/totpd/totpd/daemon/wire"
)

// importGACmd is `totpctl import google-authenticator`.
var importGACmd = &command{
	path: "import google-authenticator", args: "[USER FILE]", maxArgs: 2, admin: true,
	synopsis: "import google-authenticator",
	summary:  "import GA secrets: USER FILE, or --homes",
	help: `Makes USER an enrolled totpd user with the secret of FILE, the user's
pam_google_authenticator file (~USER/.google_authenticator); with --homes,
every account's ~/.google_authenticator (accounts from getent passwd). The
user's app keeps working: same secret, 6 digits, SHA1, STEP_SIZE as the
period. Scratch codes become recovery codes (stored hashed); the steps
listed by DISALLOW_REUSE are not accepted again; TIME_SKEW becomes the
recorded drift; WINDOW_SIZE is compared with totpd's window and reported.
HOTP (counter-based) files are refused: totpd is TOTP only.

A file is read only if it is a regular file owned by that user and not
group- or world-writable; a symbolic link is never followed. A user
already enrolled in totpd is skipped: run 'totpctl user disable NAME'
first to replace that enrollment.

--dry-run   check everything (files, accounts, enrollments) and change
            nothing
Prints one line per user: imported, or skipped and why. Exit 1 if any user
was skipped. JSON: an array of {"user", "file", "result", "reason",
"recovery_codes", "notes"}, result "imported", "would import" or "skipped".`,
	flags: func(fs *flag.FlagSet, o *opts) {
		fs.BoolVar(&o.homes, "homes", o.homes, "every account's ~/.google_authenticator")
		dryRunFlag(fs, o)
	},
	run: runImportGA,
}

// importOathCmd is `totpctl import oath`.
var importOathCmd = &command{
	path: "import oath", args: "USERSFILE", minArgs: 1, maxArgs: 1, admin: true,
	summary: "import pam_oath's TOTP users",
	help: `Imports the users of pam_oath's USERSFILE (e.g. /etc/users.oath) whose
lines are TOTP: HOTP/T30 or HOTP/T60, with 6, 7 or 8 digits. The secret,
digits and period are kept, so each user's app keeps working; the step of
the last code used (LASTOTP at TIME) is not accepted again. Refused with
the reason: event-based HOTP lines, a PIN other than "-" (totpd has no
PIN), a user on several lines, a user already enrolled in totpd.

The file is read only if it is a regular file owned by root and not group-
or world-writable; a symbolic link is never followed.

--dry-run   check everything and change nothing
Output, exit status and JSON as for 'import google-authenticator'.`,
	flags: func(fs *flag.FlagSet, o *opts) { dryRunFlag(fs, o) },
	run:   runImportOath,
}

func dryRunFlag(fs *flag.FlagSet, o *opts) {
	fs.BoolVar(&o.dryRun, "dry-run", o.dryRun, "report what would be imported; change nothing")
}

// importRow is one user's outcome: a line of text, an element of --json.
type importRow struct {
	User          string   `json:"user"`
	File          string   `json:"file"`
	Result        string   `json:"result"` // imported | would import | skipped
	Reason        string   `json:"reason,omitempty"`
	RecoveryCodes int      `json:"recovery_codes"`
	Notes         []string `json:"notes"`
}

// importAccount is an account whose file may be imported.
type importAccount struct {
	name string
	uid  uint32
	home string
}

// lookupImportAccount finds USER for `import google-authenticator USER
// FILE`: the file must be that uid's.
var lookupImportAccount = func(name string) (importAccount, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return importAccount{}, fmt.Errorf("there is no account %q on this host", name)
		}
		return importAccount{}, err
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return importAccount{}, fmt.Errorf("account %q has a non-numeric uid", name)
	}
	return importAccount{name: u.Username, uid: uint32(uid), home: u.HomeDir}, nil
}

// listImportAccounts lists every account for --homes. Go's os/user
// cannot enumerate, so this is getent passwd: every NSS source that
// enumerates (files, and LDAP or sssd where enumeration is on). The first
// entry of a name wins, as for a lookup.
var listImportAccounts = func() ([]importAccount, error) {
	out, err := exec.Command("getent", "passwd").Output()
	if err != nil {
		return nil, fmt.Errorf("getent passwd: %w", err)
	}
	var list []importAccount
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 7 || seen[f[0]] {
			continue
		}
		uid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		seen[f[0]] = true
		list = append(list, importAccount{name: f[0], uid: uint32(uid), home: f[5]})
	}
	return list, sc.Err()
}

func runImportGA(c *cmdCtx, args []string) error {
	var accts []importAccount
	var files []string
	switch {
	case c.o.homes && len(args) > 0:
		return &usageError{msg: "give USER FILE or --homes, not both", hint: c.cmd.path}
	case c.o.homes:
		all, err := listImportAccounts()
		if err != nil {
			return err
		}
		for _, a := range all {
			if !filepath.IsAbs(a.home) {
				continue // no home directory, no file
			}
			f := filepath.Join(a.home, ".google_authenticator")
			// Accounts without the file are not candidates; any other
			// answer (a symlink, no permission) is reported below.
			if _, err := os.Lstat(f); errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
				continue
			}
			accts, files = append(accts, a), append(files, f)
		}
	case len(args) == 2:
		a, err := lookupImportAccount(args[0])
		if err != nil {
			return c.printImport([]importRow{{User: args[0], File: args[1], Result: "skipped", Reason: err.Error(), Notes: []string{}}})
		}
		accts, files = []importAccount{a}, []string{args[1]}
	default:
		return &usageError{msg: "give USER FILE, or --homes", hint: c.cmd.path}
	}
	var rows []importRow
	for i, a := range accts {
		row := importRow{User: a.name, File: files[i], Notes: []string{}}
		var g *gaFile
		data, err := readOwnedFile(files[i], a.uid)
		if err == nil {
			g, err = parseGA(data)
			if err != nil {
				err = fmt.Errorf("%s: %w", files[i], err)
			}
		}
		if err != nil {
			row.Result, row.Reason = "skipped", err.Error()
			rows = append(rows, row)
			continue
		}
		uid := a.uid
		g.imp.FileUID = &uid
		row.Notes = append(row.Notes, g.notes...)
		if err := c.sendImport(&row, &g.imp); err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return c.printImport(rows)
}

func runImportOath(c *cmdCtx, args []string) error {
	data, err := readOwnedFile(args[0], 0)
	if err != nil {
		return err
	}
	users, err := parseOath(data, c.e.loc)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	rows := []importRow{}
	for _, u := range users {
		row := importRow{User: u.user, File: fmt.Sprintf("%s:%d", args[0], u.line), Notes: append([]string{}, u.notes...)}
		if u.err != nil {
			row.Result, row.Reason = "skipped", u.err.Error()
		} else if err := c.sendImport(&row, u.imp); err != nil {
			return err
		}
		rows = append(rows, row)
	}
	return c.printImport(rows)
}

// sendImport asks the daemon to import imp for row.User and fills in
// the outcome. It reports an error only when the daemon cannot be
// asked at all, which stops the whole import.
func (c *cmdCtx) sendImport(row *importRow, imp *wire.ImportSecret) error {
	if err := names.Check(row.User); err != nil {
		row.Result, row.Reason = "skipped", err.Error()
		return nil
	}
	imp.DryRun = c.o.dryRun
	resp, err := c.call(wire.Request{Op: wire.OpImport, User: row.User, Import: imp})
	var rf *refusal
	switch {
	case errors.As(err, &rf):
		row.Result, row.Reason = "skipped", strings.TrimSpace(rf.err.Message)
		return nil
	case err != nil:
		if client.IsUnavailable(err) {
			return err
		}
		row.Result, row.Reason = "skipped", err.Error()
		return nil
	}
	row.Result, row.RecoveryCodes = "imported", len(imp.RecoveryCodes)
	if c.o.dryRun {
		row.Result = "would import"
	}
	for _, m := range resp.Messages {
		row.Notes = append(row.Notes, strings.TrimSpace(m.Text))
	}
	return nil
}

// printImport writes one line per user (or the JSON array) and fails
// with exit 1 when any user was skipped.
func (c *cmdCtx) printImport(rows []importRow) error {
	skipped := 0
	for _, r := range rows {
		if r.Result == "skipped" {
			skipped++
		}
	}
	if c.o.json {
		if rows == nil {
			rows = []importRow{}
		}
		if err := writeJSON(c.out(), rows); err != nil {
			return err
		}
	} else {
		for _, r := range rows {
			if r.Result == "skipped" {
				fmt.Fprintf(c.out(), "%s: skipped: %s\n", r.User, r.Reason)
				continue
			}
			detail := append([]string{fmt.Sprintf("%d recovery codes", r.RecoveryCodes)}, r.Notes...)
			fmt.Fprintf(c.out(), "%s: %s (%s)\n", r.User, r.Result, strings.Join(detail, "; "))
		}
		if len(rows) == 0 {
			fmt.Fprintln(c.out(), "No user to import.")
		}
	}
	if skipped > 0 {
		return silentError{}
	}
	return nil
}
