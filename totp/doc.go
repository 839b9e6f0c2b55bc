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
package totp
