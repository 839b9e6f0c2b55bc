package wire

import (
	"fmt"
	"strconv"
)

// Import sources (ImportSecret.Source).
const (
	ImportGoogleAuthenticator = "google-authenticator" // pam_google_authenticator's ~/.google_authenticator
	ImportOath                = "oath"                 // pam_oath's usersfile
)

// MaxImportRecovery bounds ImportSecret.RecoveryCodes: pam_google_authenticator
// writes at most 10 scratch codes; 32 leaves room for hand-edited files.
const MaxImportRecovery = 32

// ImportSecret is one user's existing TOTP secret read from another
// module's file by totpctl import (OpImport). The daemon stores it as an
// enrolled user with the same parameters, so the user's app keeps
// working. Secret and RecoveryCodes are never logged or audited.
type ImportSecret struct {
	// Source is ImportGoogleAuthenticator or ImportOath, for the audit.
	Source string `json:"source"`
	// Secret is the key in Base32, as totp.EncodeSecret writes it.
	Secret    string `json:"secret"`
	Algorithm string `json:"alg"`
	Digits    int    `json:"digits"`
	PeriodSec int    `json:"period"`
	// Window is how many steps either side of now the old module
	// accepted (its smaller side), -1 when the file does not say; the
	// daemon reports how it compares with its own [totp] window.
	Window int `json:"window"`
	// LastStep is the last time step the old module accepted, -1 none:
	// no code of that step or before is accepted after the import.
	LastStep int64 `json:"last_step"`
	// DriftSteps is the clock drift the old module had learnt, in steps.
	DriftSteps int `json:"drift"`
	// RecoveryCodes are the old module's single-use codes (GA's 8-digit
	// scratch codes), stored hashed as totpd's recovery codes.
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
	// FileUID, when set, is the owner of the file the secret came from:
	// the daemon refuses unless it is the uid of the account it finds.
	FileUID *uint32 `json:"file_uid,omitempty"`
	// DryRun checks everything and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// validate reports a *FieldError for the first string of s over its
// bound, or an error for too many recovery codes.
func (s *ImportSecret) validate() error {
	for _, f := range []struct{ name, v string }{
		{"import.source", s.Source}, {"import.secret", s.Secret}, {"import.alg", s.Algorithm},
	} {
		if err := bound(f.name, f.v); err != nil {
			return err
		}
	}
	if len(s.RecoveryCodes) > MaxImportRecovery {
		return fmt.Errorf("the field \"import.recovery_codes\" has %d codes; the limit is %d", len(s.RecoveryCodes), MaxImportRecovery)
	}
	for i, c := range s.RecoveryCodes {
		if err := bound(fmt.Sprintf("import.recovery_codes[%d]", i), c); err != nil {
			return err
		}
	}
	return nil
}

// appendImport appends `,"import":{...}` as json.Marshal writes it, or
// nothing when s is nil.
func appendImport(b []byte, s *ImportSecret) []byte {
	if s == nil {
		return b
	}
	b = append(b, `,"import":{"source":`...)
	b = appendString(b, s.Source)
	b = appendField(b, "secret", s.Secret, false)
	b = appendField(b, "alg", s.Algorithm, false)
	b = append(b, `,"digits":`...)
	b = strconv.AppendInt(b, int64(s.Digits), 10)
	b = append(b, `,"period":`...)
	b = strconv.AppendInt(b, int64(s.PeriodSec), 10)
	b = append(b, `,"window":`...)
	b = strconv.AppendInt(b, int64(s.Window), 10)
	b = append(b, `,"last_step":`...)
	b = strconv.AppendInt(b, s.LastStep, 10)
	b = append(b, `,"drift":`...)
	b = strconv.AppendInt(b, int64(s.DriftSteps), 10)
	if len(s.RecoveryCodes) > 0 {
		b = append(b, `,"recovery_codes":[`...)
		for i, c := range s.RecoveryCodes {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, c)
		}
		b = append(b, ']')
	}
	if s.FileUID != nil {
		b = append(b, `,"file_uid":`...)
		b = strconv.AppendUint(b, uint64(*s.FileUID), 10)
	}
	if s.DryRun {
		b = append(b, `,"dry_run":true`...)
	}
	return append(b, '}')
}
