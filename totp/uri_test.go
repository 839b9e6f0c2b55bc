package totp

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// googleExample is the example of Google's Key Uri Format page, which apps follow.
const googleExample = "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30"

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := DecodeSecret(s)
	require.NoError(t, err)
	return b
}

func TestKeyURIGoogleExample(t *testing.T) {
	k := Key{Issuer: "ACME Co", Account: "john.doe@email.com", Secret: mustDecode(t, "HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"), Params: DefaultParams()}
	uri, err := k.URI()
	require.NoError(t, err)
	require.Equal(t, googleExample, uri)

	got, err := ParseURI(googleExample)
	require.NoError(t, err)
	require.Equal(t, k, got)
}

func TestKeyURIRoundTrip(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, k := range []Key{
		{Issuer: "", Account: "alice", Secret: secret, Params: DefaultParams()},
		{Issuer: "host.example.org", Account: "alice", Secret: secret[:1], Params: Params{SHA256, 8, 60 * time.Second}},
		{Issuer: "Überbank AG", Account: "jörg müller", Secret: secret, Params: Params{SHA512, 7, time.Second}},
		{Issuer: "a+b & c=d?e#f/g%h", Account: "x;y,z'\"<>\\", Secret: secret, Params: DefaultParams()},
		{Issuer: "/lead", Account: "/", Secret: secret, Params: Params{SHA1, 6, MaxPeriod}},
		{Issuer: "日本", Account: "名前 with  two  spaces", Secret: make([]byte, MaxSecretSize), Params: DefaultParams()},
		{Issuer: strings.Repeat("i", MaxLabelPart), Account: strings.Repeat("%", MaxLabelPart), Secret: make([]byte, MaxSecretSize), Params: DefaultParams()},
	} {
		uri, err := k.URI()
		require.NoError(t, err, "%+v", k)
		require.LessOrEqual(t, len(uri), MaxURILength)
		require.NotContains(t, uri, " ", "spaces are %%20")
		require.NotContains(t, uri, "+", "'+' is escaped: apps disagree on its meaning")
		got, err := ParseURI(uri)
		require.NoError(t, err, uri)
		require.Equal(t, k, got, uri)
	}
}

func TestKeyURIForm(t *testing.T) {
	k := Key{Issuer: "A B", Account: "c d", Secret: []byte("foo"), Params: Params{SHA256, 8, 60 * time.Second}}
	uri, err := k.URI()
	require.NoError(t, err)
	require.Equal(t, "otpauth://totp/A%20B:c%20d?secret=MZXW6&issuer=A%20B&algorithm=SHA256&digits=8&period=60", uri)

	k.Issuer = ""
	uri, err = k.URI()
	require.NoError(t, err)
	require.Equal(t, "otpauth://totp/c%20d?secret=MZXW6&algorithm=SHA256&digits=8&period=60", uri, "no issuer, no issuer=")
}

func TestParseURIVariants(t *testing.T) {
	secret := mustDecode(t, "JBSWY3DPEHPK3PXP")
	def := DefaultParams()
	for _, c := range []struct {
		uri  string
		want Key
	}{
		// Defaults when algorithm, digits and period are absent.
		{"otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP", Key{"", "alice", secret, def}},
		// Issuer from the parameter only, from the label only, and from both.
		{"otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme", Key{"Acme", "alice", secret, def}},
		{"otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP", Key{"Acme", "alice", secret, def}},
		{"otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme", Key{"Acme", "alice", secret, def}},
		// Spaces after the colon, an escaped colon, '+' as a space in the query.
		{"otpauth://totp/Acme%20Co:%20%20alice?secret=JBSWY3DPEHPK3PXP&issuer=Acme+Co", Key{"Acme Co", "alice", secret, def}},
		{"otpauth://totp/Acme%3Aalice?secret=JBSWY3DPEHPK3PXP", Key{"Acme", "alice", secret, def}},
		// '+' in the label is a plus.
		{"otpauth://totp/a+b?secret=JBSWY3DPEHPK3PXP", Key{"", "a+b", secret, def}},
		// Case of scheme, type, algorithm and secret; a typed-style secret.
		{"OTPAUTH://TOTP/alice?secret=jbsw%20y3dp-ehpk3pxp&algorithm=sha-256&digits=8&period=60",
			Key{"", "alice", secret, Params{SHA256, 8, time.Minute}}},
		// Unknown parameters ignored, padding tolerated, empty issuer= is absent.
		{"otpauth://totp/Acme:alice?secret=JBSWY3DPEHPK3PXP%3D%3D&image=https%3A%2F%2Fx%2Fy.png&color=red&issuer=",
			Key{"Acme", "alice", secret, def}},
		{"otpauth://totp/alice?digits=06&period=030&secret=JBSWY3DPEHPK3PXP", Key{"", "alice", secret, def}},
	} {
		got, err := ParseURI(c.uri)
		require.NoError(t, err, c.uri)
		require.Equal(t, c.want, got, c.uri)
	}
}

func TestParseURIErrors(t *testing.T) {
	const s = "JBSWY3DPEHPK3PXP"
	for _, c := range []struct{ uri, msg string }{
		{"", "must start with otpauth://"},
		{s, "must start with otpauth://"},
		{"https://example.org/totp/alice?secret=" + s, "must start with otpauth://"},
		{"otpauth:totp/alice?secret=" + s, "the // is missing"},
		{"otpauth://bob@totp/alice?secret=" + s, "user@ part"},
		{"otpauth://hotp/alice?secret=" + s + "&counter=1", "HOTP"},
		{"otpauth://motp/alice?secret=" + s, `type is "motp"`},
		{"otpauth://totp:80/alice?secret=" + s, `type is "totp:80"`},
		{"otpauth://totp/alice?secret=" + s + "#frag", "#fragment"},
		{"otpauth://totp?secret=" + s, "no label"},
		{"otpauth://totp/?secret=" + s, "no label"},
		{"otpauth://totp/a%zzb?secret=" + s, "bad %-escape"},
		{"otpauth://totp/alice?secret=" + s + "\x7f", "control character"},
		{"otpauth://to tp/alice?secret=" + s, "not a valid URI"},
		{"otpauth://totp/a:b:c?secret=" + s, "2 colons"},
		{"otpauth://totp/:alice?secret=" + s, "empty issuer"},
		{"otpauth://totp/Acme:?secret=" + s, "needs an account name"},
		{"otpauth://totp/Acme:%20?secret=" + s, "needs an account name"},
		{"otpauth://totp/a%00b?secret=" + s, "control character"},
		{"otpauth://totp/a%FFb?secret=" + s, "account is not valid UTF-8"},
		{"otpauth://totp/a%01b:alice?secret=" + s, `issuer "a\x01b" contains a control character`},
		{"otpauth://totp/" + strings.Repeat("a", MaxLabelPart+1) + "?secret=" + s, "more than 256"},
		{"otpauth://totp/alice?secret=" + s + "&x=%zz", "query is malformed"},
		{"otpauth://totp/alice?secret=" + s + ";x=1", "query is malformed"},
		{"otpauth://totp/alice", "no secret= parameter"},
		{"otpauth://totp/alice?issuer=Acme", "no secret= parameter"},
		{"otpauth://totp/alice?secret=" + s + "&secret=" + s, "2 secret= parameters"},
		{"otpauth://totp/alice?secret=" + s + "&digits=6&digits=8", "2 digits= parameters"},
		{"otpauth://totp/alice?secret=", "empty secret"},
		{"otpauth://totp/alice?secret=JBSWY3DPEHPK3PX1", "Base32 uses only"},
		{"otpauth://totp/Acme:alice?secret=" + s + "&issuer=Evil", `issuer= parameter "Evil" differs from the label's issuer "Acme"`},
		{"otpauth://totp/alice?secret=" + s + "&issuer=a%3Ab", "contains ':'"},
		{"otpauth://totp/alice?secret=" + s + "&algorithm=MD5", "algorithm= parameter"},
		{"otpauth://totp/alice?secret=" + s + "&digits=six", `digits= parameter "six" is not a number`},
		{"otpauth://totp/alice?secret=" + s + "&digits=", "digits= parameter"},
		{"otpauth://totp/alice?secret=" + s + "&digits=-6", "digits= parameter"},
		{"otpauth://totp/alice?secret=" + s + "&digits=10", "digits must be 6, 7 or 8"},
		{"otpauth://totp/alice?secret=" + s + "&period=30s", "period= parameter"},
		{"otpauth://totp/alice?secret=" + s + "&period=99999999999", "period= parameter"},
		{"otpauth://totp/alice?secret=" + s + "&period=0", "period must be"},
		{"otpauth://totp/alice?secret=" + s + "&period=86401", "period must be"},
		{"otpauth://totp/alice?secret=" + s + strings.Repeat("&x=y", MaxURILength/4), "more than 4096"},
	} {
		k, err := ParseURI(c.uri)
		require.ErrorContains(t, err, c.msg, "%q", c.uri)
		require.Equal(t, Key{}, k)
		require.NotContains(t, err.Error(), s, "an error must not repeat the secret")
		require.NotContains(t, err.Error(), "otpauth://totp/alice?", "an error must not repeat the URI")
	}
}

func TestKeyURIErrors(t *testing.T) {
	ok := Key{Issuer: "Acme", Account: "alice", Secret: []byte("12345678901234567890"), Params: DefaultParams()}
	for _, c := range []struct {
		edit func(*Key)
		msg  string
	}{
		{func(k *Key) { k.Account = "" }, "needs an account name"},
		{func(k *Key) { k.Account = "a:b" }, `account "a:b" contains ':'`},
		{func(k *Key) { k.Issuer = "Acme:Corp" }, `issuer "Acme:Corp" contains ':'`},
		{func(k *Key) { k.Issuer = " Acme" }, "starts or ends with a space"},
		{func(k *Key) { k.Account = "alice\n" }, "starts or ends with a space"},
		{func(k *Key) { k.Account = "al\x00ice" }, "control character"},
		{func(k *Key) { k.Issuer = "\xff" }, "not valid UTF-8"},
		{func(k *Key) { k.Account = strings.Repeat("a", MaxLabelPart+1) }, "more than 256"},
		{func(k *Key) { k.Secret = nil }, "empty secret"},
		{func(k *Key) { k.Secret = make([]byte, MaxSecretSize+1) }, "secret is 65 bytes"},
		{func(k *Key) { k.Params.Algorithm = "MD5" }, "unknown algorithm"},
		{func(k *Key) { k.Params.Digits = 0 }, "digits must be"},
		{func(k *Key) { k.Params.Period = 0 }, "period must be"},
	} {
		k := ok
		c.edit(&k)
		uri, err := k.URI()
		require.ErrorContains(t, err, c.msg, "%+v", k)
		require.Empty(t, uri)
		require.NotContains(t, err.Error(), EncodeSecret(ok.Secret))
	}
}
