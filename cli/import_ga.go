package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// gaFile is what parseGA found in a pam_google_authenticator file, as
// an import, with notes on what does not carry over.
type gaFile struct {
	imp   wire.ImportSecret
	notes []string
}

// parseGA reads pam_google_authenticator's per-user file
// (~/.google_authenticator), as that module reads it: the Base32 secret
// on the first line; option lines starting with `" `; then 8-digit
// scratch codes, one a line. It maps the file to totpd's terms:
//   - TOTP_AUTH marks a time-based file; HOTP_COUNTER a counter-based
//     one, which is refused: totpd is TOTP only. A file with neither lets
//     only scratch codes in, and is refused too.
//   - STEP_SIZE is the period (default 30 s); GA codes are always 6
//     digits of HMAC-SHA1.
//   - WINDOW_SIZE n is the number of codes GA accepted, from (n-1)/2 steps
//     before now to n/2 after (default 3, i.e. ±1); sent as the smaller
//     side, for the daemon to compare with its own window.
//   - DISALLOW_REUSE lists the steps GA accepted lately: the latest
//     becomes the last accepted step, so none of those codes works again.
//     Without it GA let a code be used twice, which totpd never does.
//   - TIME_SKEW is the drift GA learnt, in steps.
//   - RATE_LIMIT is not carried: totpd's lockout applies instead.
//
// Errors and notes never quote the secret or a scratch code.
func parseGA(data []byte) (*gaFile, error) {
	lines := strings.Split(strings.ReplaceAll(string(data), "\r\n", "\n"), "\n")
	secret, err := totp.DecodeSecret(strings.TrimSpace(lines[0]))
	if err != nil || strings.TrimSpace(lines[0]) == "" {
		return nil, fmt.Errorf("its first line is not a Base32 secret, so it is not a pam_google_authenticator file")
	}
	g := &gaFile{imp: wire.ImportSecret{Source: wire.ImportGoogleAuthenticator, Secret: totp.EncodeSecret(secret),
		Algorithm: string(totp.SHA1), Digits: 6, PeriodSec: 30, Window: 1, LastStep: -1}}
	var totpAuth, reuseListed bool
	for i, line := range lines[1:] {
		n := i + 2
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, `"`):
			f := strings.Fields(strings.TrimPrefix(line, `"`))
			if len(f) == 0 {
				continue
			}
			args := f[1:]
			switch f[0] {
			case "TOTP_AUTH":
				totpAuth = true
			case "HOTP_COUNTER":
				return nil, fmt.Errorf("it is counter-based (HOTP, line %d); totpd is TOTP only: enroll this user anew (totpctl user enroll)", n)
			case "STEP_SIZE":
				v, err := gaInt(args, 1, 60)
				if err != nil {
					return nil, fmt.Errorf("line %d, STEP_SIZE: %v", n, err)
				}
				g.imp.PeriodSec = v
			case "WINDOW_SIZE":
				v, err := gaInt(args, 1, 100)
				if err != nil {
					return nil, fmt.Errorf("line %d, WINDOW_SIZE: %v", n, err)
				}
				g.imp.Window = (v - 1) / 2
				if v%2 == 0 {
					g.notes = append(g.notes, fmt.Sprintf("WINDOW_SIZE %d accepted %d steps before now and %d after", v, (v-1)/2, v/2))
				}
			case "DISALLOW_REUSE":
				reuseListed = true
				for _, a := range args {
					s, err := strconv.ParseInt(a, 10, 64)
					if err != nil || s < 0 {
						return nil, fmt.Errorf("line %d, DISALLOW_REUSE: %q is not a time step", n, a)
					}
					g.imp.LastStep = max(g.imp.LastStep, s)
				}
			case "TIME_SKEW":
				v, err := gaInt(args, -1<<20, 1<<20)
				if err != nil {
					return nil, fmt.Errorf("line %d, TIME_SKEW: %v", n, err)
				}
				g.imp.DriftSteps = v
			case "RATE_LIMIT":
				g.notes = append(g.notes, "RATE_LIMIT not carried: totpd's lockout ([lockout] max_failures) applies")
			case "RESETTING_TIME_SKEW":
				// GA's half-learnt skew: totpd learns drift from accepted codes.
			default:
				g.notes = append(g.notes, fmt.Sprintf("option %s (line %d) ignored", f[0], n))
			}
		case isGAScratch(line):
			if len(g.imp.RecoveryCodes) == wire.MaxImportRecovery {
				return nil, fmt.Errorf("it has more than %d scratch codes", wire.MaxImportRecovery)
			}
			g.imp.RecoveryCodes = append(g.imp.RecoveryCodes, line)
		default:
			return nil, fmt.Errorf("line %d is neither an option nor an 8-digit scratch code", n)
		}
	}
	if !totpAuth {
		return nil, fmt.Errorf("it has neither TOTP_AUTH nor HOTP_COUNTER, so pam_google_authenticator lets only its scratch codes in: enroll this user anew")
	}
	if !reuseListed {
		g.notes = append(g.notes, "reuse: the file allowed a code twice; totpd accepts each code once")
	}
	return g, nil
}

// gaInt reads the one integer argument of an option, in [lo, hi].
func gaInt(args []string, lo, hi int) (int, error) {
	if len(args) < 1 {
		return 0, fmt.Errorf("no value")
	}
	v, err := strconv.Atoi(args[0])
	if err != nil || v < lo || v > hi {
		return 0, fmt.Errorf("%q is not a number from %d to %d", args[0], lo, hi)
	}
	return v, nil
}

// isGAScratch reports whether line is a scratch code as GA reads one:
// eight digits, the first not 0.
func isGAScratch(line string) bool {
	if len(line) != 8 || line[0] == '0' {
		return false
	}
	for i := 0; i < len(line); i++ {
		if line[i] < '0' || line[i] > '9' {
			return false
		}
	}
	return true
}
