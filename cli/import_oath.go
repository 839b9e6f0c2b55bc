package main

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// oathUser is one user of a pam_oath usersfile: the import, or why not.
type oathUser struct {
	user  string
	line  int
	imp   *wire.ImportSecret
	notes []string
	err   error
}

// oathTimeLayout is how liboath writes a token's last use: local time
// with a literal L.
const oathTimeLayout = "2006-01-02T15:04:05L"

// oathSearch is how many steps either side of a token's last use
// parseOath looks for the step of its last code: pam_oath's window
// argument, up to 15 minutes of 30-second steps.
const oathSearch = 30

// parseOath reads pam_oath's usersfile (liboath's format: whitespace
// separated TYPE USER PIN SECRET [COUNTER [LASTOTP [TIME]]], '#'
// comments) and reports its users in file order. Only the TOTP types are
// imported, HOTP/T30 and HOTP/T60 with 6, 7 or 8 digits (HMAC-SHA1, as
// liboath); event-based HOTP lines, a PIN (totpd has none: the password
// stays pam_unix's job) and a user on several lines (totpd keeps one
// secret a user) are refused with the reason. The step of the last code
// used (LASTOTP at TIME) becomes the last accepted step. Errors never
// quote a secret or a code.
func parseOath(data []byte, loc *time.Location) ([]*oathUser, error) {
	var out []*oathUser
	seen := map[string]*oathUser{}
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			return nil, fmt.Errorf("line %d has %d fields; a usersfile line is TYPE USER PIN SECRET [COUNTER [LASTOTP [TIME]]]", n, len(f))
		}
		if u := seen[f[1]]; u != nil {
			u.imp, u.err = nil, fmt.Errorf("the user has lines %d and %d (several tokens); totpd keeps one secret a user: keep one line in a copy of the file and import that", u.line, n)
			continue
		}
		u := &oathUser{user: f[1], line: n}
		seen[f[1]] = u
		out = append(out, u)
		u.imp, u.notes, u.err = oathLine(f, loc)
	}
	return out, nil
}

// oathLine maps one usersfile line's fields to an import.
func oathLine(f []string, loc *time.Location) (*wire.ImportSecret, []string, error) {
	period, digits, err := oathType(f[0])
	if err != nil {
		return nil, nil, err
	}
	if f[2] != "-" {
		return nil, nil, fmt.Errorf("the line has a PIN (its third field is not \"-\"); totpd has no PIN: keep the password check in pam_unix and remove the PIN from a copy of the file to import")
	}
	secret, err := hex.DecodeString(f[3])
	if err != nil || len(secret) == 0 {
		return nil, nil, fmt.Errorf("the secret is not hexadecimal")
	}
	if len(secret) > totp.MaxSecretSize {
		return nil, nil, fmt.Errorf("the secret is longer than %d bytes", totp.MaxSecretSize)
	}
	imp := &wire.ImportSecret{Source: wire.ImportOath, Secret: totp.EncodeSecret(secret), Algorithm: string(totp.SHA1),
		Digits: digits, PeriodSec: period, Window: -1, LastStep: -1}
	var notes []string
	if len(f) >= 7 {
		used, err := time.ParseInLocation(oathTimeLayout, f[6], loc)
		if err != nil {
			return nil, nil, fmt.Errorf("the last-use time is not liboath's YYYY-MM-DDTHH:MM:SSL")
		}
		p := totp.Params{Algorithm: totp.SHA1, Digits: digits, Period: time.Duration(period) * time.Second}
		at := p.Step(used)
		imp.LastStep = -1
		for s := at - oathSearch; s <= at+oathSearch; s++ {
			if c, err := p.CodeAt(secret, s); err == nil && c == f[5] {
				imp.LastStep = s // the latest step with that code
			}
		}
		if imp.LastStep < 0 {
			imp.LastStep = at
			notes = append(notes, "the last code used does not match the secret near its time: codes up to that time are refused")
		}
	}
	return imp, notes, nil
}

// oathType reads a usersfile token type: the period in seconds and the
// digits of a TOTP type, or why it is not imported.
func oathType(t string) (int, int, error) {
	parts := strings.Split(t, "/")
	if parts[0] != "HOTP" || len(parts) > 3 {
		return 0, 0, fmt.Errorf("unknown token type %q", t)
	}
	if len(parts) == 1 || parts[1] == "E" {
		return 0, 0, fmt.Errorf("token type %s is event-based HOTP (a counter, not the time); totpd is TOTP only: enroll this user anew (totpctl user enroll)", t)
	}
	var period int
	switch parts[1] {
	case "T30":
		period = 30
	case "T60":
		period = 60
	default:
		return 0, 0, fmt.Errorf("unknown token type %q (liboath knows HOTP/T30 and HOTP/T60)", t)
	}
	digits := 6
	if len(parts) == 3 {
		d, err := strconv.Atoi(parts[2])
		if err != nil || d < 6 || d > 8 {
			return 0, 0, fmt.Errorf("unknown token type %q (6, 7 or 8 digits)", t)
		}
		digits = d
	}
	return period, digits, nil
}
