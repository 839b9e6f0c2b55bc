package totp_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/totpd/totpd/totp"
)

// A code is generated and validated; the same code is then refused as a replay.
func Example() {
	p := totp.DefaultParams()
	secret := []byte("12345678901234567890") // RFC 6238's test seed; use GenerateSecret
	now := time.Unix(1111111109, 0)          // a fixed time, so the output is checkable

	code, err := p.Code(secret, now)
	if err != nil {
		panic(err)
	}
	fmt.Println("code:", code)

	// 30 seconds later the code is one step old, still within a window of 1.
	res, err := p.Validate(secret, code, now.Add(30*time.Second), totp.ValidateOptions{Window: 1, LastStep: -1})
	fmt.Println("accepted:", err == nil, "step:", res.Step, "drift:", res.Drift)

	// Recorded as the last step, it cannot be used again.
	_, err = p.Validate(secret, code, now.Add(30*time.Second), totp.ValidateOptions{Window: 1, Drift: res.Drift, LastStep: res.Step})
	fmt.Println("again:", errors.Is(err, totp.ErrReplay))
	// Output:
	// code: 081804
	// accepted: true step: 37037036 drift: -1
	// again: true
}

func ExampleParams_Diagnose() {
	p := totp.DefaultParams()
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111109, 0)
	// A phone whose clock is 2 minutes behind shows the code of 4 steps ago.
	code, _ := p.Code(secret, now.Add(-2*time.Minute))
	d, err := p.Diagnose(secret, code, now, 0)
	fmt.Println(d.Found, d.Drift, err)
	// Output: true -4 <nil>
}

func ExampleKey_URI() {
	secret, _ := totp.DecodeSecret("HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ")
	k := totp.Key{Issuer: "ACME Co", Account: "john.doe@email.com", Secret: secret, Params: totp.DefaultParams()}
	uri, err := k.URI()
	fmt.Println(uri, err)
	// Output: otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30 <nil>
}

func ExampleParseURI() {
	k, err := totp.ParseURI("otpauth://totp/Example:alice@example.org?secret=JBSWY3DPEHPK3PXP&issuer=Example")
	if err != nil {
		panic(err)
	}
	fmt.Println(k.Issuer, k.Account, totp.EncodeSecret(k.Secret), k.Params.Algorithm, k.Params.Digits, k.Params.Period)

	_, err = totp.ParseURI("otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Other")
	fmt.Println(err)
	// Output:
	// Example alice@example.org JBSWY3DPEHPK3PXP SHA1 6 30s
	// key URI issuer= parameter "Other" differs from the label's issuer "Example"
}
