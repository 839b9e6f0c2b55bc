// Package totp implements the one-time passwords that totpd checks:
// HOTP (RFC 4226) and TOTP (RFC 6238) with SHA1, SHA256 and SHA512,
// Base32 secrets as authenticator apps show them, the otpauth:// Key URI
// that QR codes carry, and the validation rule the daemon applies to a
// submitted code (window, recorded drift, one use per step).
//
// The package uses the standard library only, so that the daemon, the CLI
// and the tests share one implementation with no surprises underneath.
//
// A code for "now" and its validation:
//
//	p := totp.DefaultParams()
//	secret, _ := totp.GenerateSecret(totp.DefaultSecretSize)
//	code, _ := p.Code(secret, time.Now())
//	res, err := p.Validate(secret, code, time.Now(), totp.ValidateOptions{Window: 1, LastStep: -1})
//
// On success the caller stores res.Step as the next LastStep and res.Drift
// as the next Drift; a refusal is ErrFormat, ErrMismatch or ErrReplay (test
// with errors.Is). Params.Diagnose answers "does this code match a nearby
// time?" without any state, for helping users whose phone clock is off.
//
// Key.URI and ParseURI build and read the otpauth://totp/ URI that enrollment
// shows as a QR code; what one builds the other reads back exactly.
//
// Nothing here logs, and no error repeats a secret or a code.
package totp
