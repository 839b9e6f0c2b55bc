package totp

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Key is what a Key URI carries: whose secret it is and how to use it.
// The format is Google's Key Uri Format, which every authenticator app reads:
//
//	otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30
type Key struct {
	// Issuer names the service (apps show it above the account). It may be empty.
	Issuer string
	// Account names the user at the issuer. It is required.
	Account string
	// Secret is the shared HMAC key, 1 to MaxSecretSize bytes.
	Secret []byte
	// Params are the algorithm, digits and period the codes use.
	Params Params
}

// Limits on a Key URI. Real ones are a few hundred bytes; the caps keep a
// hostile or corrupted URI (a pasted file, a QR code from anywhere) cheap to reject.
const (
	// MaxLabelPart bounds the issuer and the account name, in bytes.
	MaxLabelPart = 256
	// MaxURILength bounds the URI ParseURI accepts, in bytes. URI never
	// builds a longer one, since the parts within it are bounded.
	MaxURILength = 4096
)

// URI reports k as an otpauth://totp/ Key URI. The label is "Issuer:account"
// (or "account" with no issuer) and the query carries secret, issuer,
// algorithm, digits and period, always all of them, so that no app has to
// guess a default. Everything but letters, digits, "-._~" and "@" is
// %-escaped, a space as %20 and never "+", because apps disagree on "+".
//
// An empty account, a colon in the issuer or account (it would split the
// label in the wrong place), a missing or oversized secret, or bad Params
// is an error.
func (k Key) URI() (string, error) {
	if err := checkLabelPart("issuer", k.Issuer, false); err != nil {
		return "", err
	}
	if err := checkLabelPart("account", k.Account, true); err != nil {
		return "", err
	}
	if len(k.Secret) == 0 {
		return "", fmt.Errorf("key URI: %w", ErrEmptySecret)
	}
	if len(k.Secret) > MaxSecretSize {
		return "", fmt.Errorf("key URI: secret is %d bytes, more than %d", len(k.Secret), MaxSecretSize)
	}
	if err := k.Params.Check(); err != nil {
		return "", fmt.Errorf("key URI: %w", err)
	}
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	if k.Issuer != "" {
		b.WriteString(escape(k.Issuer))
		b.WriteByte(':')
	}
	b.WriteString(escape(k.Account))
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(k.Secret))
	if k.Issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(escape(k.Issuer))
	}
	b.WriteString("&algorithm=")
	b.WriteString(string(k.Params.Algorithm))
	b.WriteString("&digits=")
	b.WriteString(strconv.Itoa(k.Params.Digits))
	b.WriteString("&period=")
	b.WriteString(strconv.FormatInt(int64(k.Params.Period/time.Second), 10))
	return b.String(), nil
}

// ParseURI reports the Key in an otpauth://totp/ Key URI. The label may be
// "Issuer:account" (spaces after the colon allowed) or "account"; an issuer
// parameter, if present, must agree with the label's. Missing algorithm,
// digits and period mean SHA1, 6 and 30 as the format defines. Unknown
// parameters (image, color …, which some apps add) are ignored.
//
// Every error says what is wrong with the URI; none repeats the secret.
func ParseURI(uri string) (Key, error) {
	if len(uri) > MaxURILength {
		return Key{}, fmt.Errorf("key URI is %d bytes, more than %d: check it was copied alone", len(uri), MaxURILength)
	}
	u, err := url.Parse(uri)
	if err != nil {
		return Key{}, fmt.Errorf("key URI is not a valid URI: %s", urlErrorReason(err))
	}
	if err := checkURIShape(u); err != nil {
		return Key{}, err
	}
	labelIssuer, account, err := splitLabel(strings.TrimPrefix(u.Path, "/"))
	if err != nil {
		return Key{}, err
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		// The parser's own message quotes the offending text, which may be
		// part of the secret: say what is wrong without it.
		return Key{}, errors.New("key URI query is malformed: a bad %-escape or a ';'")
	}
	k := Key{Issuer: labelIssuer, Account: account, Params: DefaultParams()}
	for _, name := range []string{"secret", "issuer", "algorithm", "digits", "period"} {
		if len(q[name]) > 1 {
			return Key{}, fmt.Errorf("key URI has %d %s= parameters: want one", len(q[name]), name)
		}
	}
	if !q.Has("secret") {
		return Key{}, errors.New("key URI has no secret= parameter")
	}
	if k.Secret, err = DecodeSecret(q.Get("secret")); err != nil {
		return Key{}, fmt.Errorf("key URI: %w", err)
	}
	// An empty issuer= says nothing, so it counts as absent.
	if issuer := strings.TrimSpace(q.Get("issuer")); issuer != "" {
		if err := checkLabelPart("issuer", issuer, false); err != nil {
			return Key{}, err
		}
		if labelIssuer != "" && issuer != labelIssuer {
			return Key{}, fmt.Errorf("key URI issuer= parameter %q differs from the label's issuer %q", issuer, labelIssuer)
		}
		k.Issuer = issuer
	}
	if err := parseParams(q, &k.Params); err != nil {
		return Key{}, err
	}
	return k, nil
}

// checkURIShape reports an error unless u is otpauth://totp/ with a label
// and nothing URI-like that this format does not use.
func checkURIShape(u *url.URL) error {
	switch {
	case u.Scheme != "otpauth": // url.Parse lower-cases the scheme
		return errors.New("key URI must start with otpauth://")
	case u.Opaque != "":
		return errors.New("key URI must start with otpauth:// (the // is missing)")
	case u.User != nil:
		return errors.New("key URI has a user@ part before the type: want otpauth://totp/")
	case strings.EqualFold(u.Host, "hotp"):
		return errors.New("key URI is for HOTP (otpauth://hotp/): totpd uses TOTP only, make a otpauth://totp/ key")
	case !strings.EqualFold(u.Host, "totp"):
		return fmt.Errorf("key URI type is %q: want otpauth://totp/", u.Host)
	case u.Fragment != "":
		return errors.New("key URI has a #fragment: check it was copied alone")
	case u.Path == "" || u.Path == "/":
		return errors.New("key URI has no label: want otpauth://totp/Issuer:account?secret=...")
	}
	return nil
}

// splitLabel reports the issuer and account of an unescaped label.
func splitLabel(label string) (issuer, account string, err error) {
	parts := strings.Split(label, ":")
	switch len(parts) {
	case 1:
		account = parts[0]
	case 2:
		issuer, account = strings.TrimSpace(parts[0]), parts[1]
		if issuer == "" {
			return "", "", errors.New("key URI label has an empty issuer before ':': want Issuer:account or account")
		}
	default:
		return "", "", fmt.Errorf("key URI label has %d colons: want Issuer:account or account", len(parts)-1)
	}
	// The format allows spaces after the colon; trimming both ends keeps
	// the name an app shows and what URI would build the same.
	account = strings.TrimSpace(account)
	if err := checkLabelPart("issuer", issuer, false); err != nil {
		return "", "", err
	}
	if err := checkLabelPart("account", account, true); err != nil {
		return "", "", err
	}
	return issuer, account, nil
}

// parseParams sets p from the algorithm, digits and period parameters
// present in q and checks the result.
func parseParams(q url.Values, p *Params) error {
	if q.Has("algorithm") {
		a, err := ParseAlgorithm(q.Get("algorithm"))
		if err != nil {
			return fmt.Errorf("key URI algorithm= parameter: %w", err)
		}
		p.Algorithm = a
	}
	if q.Has("digits") {
		d, ok := smallUint(q.Get("digits"))
		if !ok {
			return fmt.Errorf("key URI digits= parameter %q is not a number: want 6 or 8", q.Get("digits"))
		}
		p.Digits = d
	}
	if q.Has("period") {
		s, ok := smallUint(q.Get("period"))
		if !ok {
			return fmt.Errorf("key URI period= parameter %q is not a number of seconds: want e.g. 30", q.Get("period"))
		}
		p.Period = time.Duration(s) * time.Second
	}
	if err := p.Check(); err != nil {
		return fmt.Errorf("key URI: %w", err)
	}
	return nil
}

// smallUint reports the value of a string of 1 to 6 ASCII digits. The length
// cap keeps the value far from overflow whatever it multiplies; anything
// longer is out of range for digits and period anyway.
func smallUint(s string) (int, bool) {
	if len(s) == 0 || len(s) > 6 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// checkLabelPart reports an error unless s can stand in a label as the
// issuer or account name (what) and come back the same from ParseURI.
func checkLabelPart(what, s string, required bool) error {
	switch {
	case s == "":
		if required {
			return fmt.Errorf("key URI needs an %s name", what)
		}
		return nil
	case len(s) > MaxLabelPart:
		return fmt.Errorf("key URI %s is %d bytes, more than %d", what, len(s), MaxLabelPart)
	case !utf8.ValidString(s):
		return fmt.Errorf("key URI %s is not valid UTF-8", what)
	case strings.Contains(s, ":"):
		return fmt.Errorf("key URI %s %q contains ':', which separates issuer and account: remove it", what, s)
	case strings.TrimSpace(s) != s:
		return fmt.Errorf("key URI %s %q starts or ends with a space: trim it", what, s)
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return fmt.Errorf("key URI %s %q contains a control character", what, s)
	}
	return nil
}

// escape %-escapes s for both the label and a query value: everything but
// RFC 3986 unreserved characters and '@' (which e-mail style accounts carry,
// and which is legal unescaped in both places).
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '@' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// urlErrorReason reports why url.Parse refused a URI without quoting the
// URI, which holds the secret.
func urlErrorReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ee url.EscapeError
	if errors.As(err, &ee) {
		return "a bad %-escape"
	}
	return err.Error()
}
