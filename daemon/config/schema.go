package config

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/BurntSushi/toml"

	"github.com/totpd/totpd/daemon/names"
)

// key describes one key of the file: where it lives, how a TOML value
// becomes a field of Config, and how that field is checked.
type key struct {
	table, name string
	// decode converts, checks and stores a TOML value; its error says what
	// is wrong with the value, without naming the key.
	decode func(c *Config, v any) error
	// validate checks the field as it is in c; its error names the key.
	validate func(c *Config) error
}

// label names k in messages: "socket" or "[lockout] max_failures".
func (k key) label() string { return label(k.table, k.name) }

func label(table, name string) string {
	if table == "" {
		return name
	}
	return "[" + table + "] " + name
}

// tables lists the tables of the file, in the order of the file.
var tables = []string{"totp", "lockout", "policy", "enroll", "recovery", "cluster"}

// schema lists every key of the file, in the order of the file.
var schema = []key{
	field("", "socket", func(c *Config) *string { return &c.Socket }, asString(cleanAbs), checkSocket),
	field("", "state_dir", func(c *Config) *string { return &c.StateDir }, asString(cleanAbs), checkPath),
	field("", "master_key_file", func(c *Config) *string { return &c.MasterKeyFile }, asString(cleanAbs), checkPath),
	field("", "admin_group", func(c *Config) *string { return &c.AdminGroup }, asString(nil), checkAdminGroup),
	field("", "issuer", func(c *Config) *string { return &c.Issuer }, asString(nil), checkIssuer),
	field("", "metrics_file", func(c *Config) *string { return &c.MetricsFile }, asString(cleanAbs), checkMetricsFile),

	field("totp", "algorithm", func(c *Config) *string { return &c.TOTP.Algorithm }, asString(strings.ToUpper),
		oneOf(AlgorithmSHA1, AlgorithmSHA256, AlgorithmSHA512)),
	field("totp", "digits", func(c *Config) *int { return &c.TOTP.Digits }, asInt, intOneOf(6, 8)),
	field("totp", "period", func(c *Config) *Duration { return &c.TOTP.Period }, asDuration, checkPeriod),
	field("totp", "window", func(c *Config) *int { return &c.TOTP.Window }, asInt, intRange(0, MaxWindow)),

	field("lockout", "max_failures", func(c *Config) *int { return &c.Lockout.MaxFailures }, asInt, intRange(1, MaxMaxFailures)),
	field("lockout", "duration", func(c *Config) *Duration { return &c.Lockout.Duration }, asDuration, nonNegative),

	field("policy", "require", func(c *Config) *string { return &c.Policy.Require }, asString(strings.ToLower),
		oneOf(RequireNone, RequireAll, RequireGroups)),
	field("policy", "groups", func(c *Config) *[]string { return &c.Policy.Groups }, asStrings, each(checkGroupName)),
	field("policy", "exempt_users", func(c *Config) *[]string { return &c.Policy.ExemptUsers }, asStrings, each(checkUserName)),
	field("policy", "exempt_groups", func(c *Config) *[]string { return &c.Policy.ExemptGroups }, asStrings, each(checkGroupName)),
	field("policy", "grace_period", func(c *Config) *Duration { return &c.Policy.GracePeriod }, asDuration, nonNegative),
	field("policy", "enroll_at_login", func(c *Config) *bool { return &c.Policy.EnrollAtLogin }, asBool, func(bool) error { return nil }),
	field("policy", "remember", func(c *Config) *Duration { return &c.Policy.Remember }, asDuration, durationRange(0, MaxRemember)),

	field("enroll", "confirm_codes", func(c *Config) *int { return &c.Enroll.ConfirmCodes }, asInt, intOneOf(1, 2)),

	field("recovery", "codes", func(c *Config) *int { return &c.Recovery.Codes }, asInt, intRange(0, MaxRecoveryCodes)),

	also(field("cluster", "backend", func(c *Config) *string { return &c.Cluster.Backend }, asString(nil),
		oneOf(BackendLocal, BackendEtcd)), needEndpoints),
	also(field("cluster", "endpoints", func(c *Config) *[]string { return &c.Cluster.Endpoints }, asStrings, checkEndpoints),
		tlsNeedsHTTPS),
	field("cluster", "prefix", func(c *Config) *string { return &c.Cluster.Prefix }, asString(nil), checkPrefix),
	field("cluster", "ca_file", func(c *Config) *string { return &c.Cluster.CAFile }, asString(cleanAbs), optionalPath),
	also(field("cluster", "cert_file", func(c *Config) *string { return &c.Cluster.CertFile }, asString(cleanAbs), optionalPath),
		certNeedsKey),
	also(field("cluster", "key_file", func(c *Config) *string { return &c.Cluster.KeyFile }, asString(cleanAbs), optionalPath),
		keyNeedsCert),
	field("cluster", "username", func(c *Config) *string { return &c.Cluster.Username }, asString(nil), checkEtcdUsername),
	also(field("cluster", "password_file", func(c *Config) *string { return &c.Cluster.PasswordFile }, asString(cleanAbs), optionalPath),
		passwordNeedsUser),
	field("cluster", "timeout", func(c *Config) *Duration { return &c.Cluster.Timeout }, asDuration,
		durationRange(MinClusterTimeout, MaxClusterTimeout)),
	field("cluster", "offline", func(c *Config) *string { return &c.Cluster.Offline }, asString(nil),
		oneOf(OfflineLocal, OfflineDeny)),
}

// MaxRemember bounds [policy] remember: a remembered login stands in for
// a code, so it lasts at most a day.
const MaxRemember = 24 * time.Hour

// Limits of the [cluster] table, inclusive.
const (
	// MaxEndpoints is the most [cluster] endpoints; an etcd cluster has
	// an odd handful of members, rarely more than 7.
	MaxEndpoints = 16
	// MaxPrefix is the longest [cluster] prefix, in bytes.
	MaxPrefix = 64
	// MaxEtcdUsername is the longest [cluster] username, in bytes.
	MaxEtcdUsername = 64
	// MinClusterTimeout and MaxClusterTimeout bound [cluster] timeout.
	MinClusterTimeout = 100 * time.Millisecond
	MaxClusterTimeout = 60 * time.Second
)

// also adds to k a check that involves other keys besides k. Like the
// other checks of several keys, it runs in Validate, and in Parse once
// every single key has passed; its error names the keys it is about.
func also(k key, check func(c *Config) error) key {
	validate := k.validate
	k.validate = func(c *Config) error {
		if err := validate(c); err != nil {
			return err
		}
		return check(c)
	}
	return k
}

// field makes the key table.name stored at ptr(c): conv turns the TOML value
// into a T (or says which type was expected), check accepts or refuses it.
func field[T any](table, name string, ptr func(*Config) *T, conv func(any) (T, error), check func(T) error) key {
	return key{
		table: table,
		name:  name,
		decode: func(c *Config, v any) error {
			t, err := conv(v)
			if err != nil {
				return err
			}
			if err := check(t); err != nil {
				return err
			}
			*ptr(c) = t
			return nil
		},
		validate: func(c *Config) error {
			t := *ptr(c)
			if err := check(t); err != nil {
				return fmt.Errorf("%s = %s: %w", label(table, name), render(t), err)
			}
			return nil
		},
	}
}

// decodeTree stores the values of tree, the decoded file, into c. keys are
// the file's keys in the order of the file, which is the order of the
// errors.
func decodeTree(c *Config, tree map[string]any, keys []toml.Key) []error {
	var errs []error
	reported := map[string]bool{}
	report := func(path []string, err error) {
		reported[strings.Join(path, "\x00")] = true
		errs = append(errs, err)
	}
	// seen reports whether path or one of its parents was reported already.
	seen := func(path []string) bool {
		for i := 1; i <= len(path); i++ {
			if reported[strings.Join(path[:i], "\x00")] {
				return true
			}
		}
		return false
	}
	for _, kp := range keys {
		path := []string(kp)
		if seen(path) {
			continue
		}
		top := path[0]
		if slices.Contains(tables, top) {
			tv, ok := tree[top].(map[string]any)
			if !ok {
				report(path[:1], fmt.Errorf("[%s] must be a table, written as a [%s] header line followed by its keys, not %s",
					top, top, typeName(tree[top])))
				continue
			}
			if len(path) == 1 {
				continue
			}
			name := path[1]
			k, ok := lookup(top, name)
			if !ok {
				report(path[:2], unknownKey(top, name, tv[name]))
				continue
			}
			if err := k.decode(c, tv[name]); err != nil {
				report(path[:2], fmt.Errorf("%s = %s: %w", k.label(), render(tv[name]), err))
			}
			continue
		}
		k, ok := lookup("", top)
		if !ok {
			report(path[:1], unknownKey("", top, tree[top]))
			continue
		}
		if err := k.decode(c, tree[top]); err != nil {
			report(path[:1], fmt.Errorf("%s = %s: %w", k.label(), render(tree[top]), err))
		}
	}
	return errs
}

// lookup finds the key table.name of the schema.
func lookup(table, name string) (key, bool) {
	for _, k := range schema {
		if k.table == table && k.name == name {
			return k, true
		}
	}
	return key{}, false
}

// unknownKey explains that table.name is not a key of the file, with a hint
// when the key looks like a known one or belongs in another table.
func unknownKey(table, name string, v any) error {
	_, isTable := v.(map[string]any)
	if table == "" && isTable {
		return fmt.Errorf("[%s]: unknown table; the tables are [%s]", name, strings.Join(tables, "], ["))
	}
	var b strings.Builder
	b.WriteString(label(table, name) + ": unknown key")
	// The same key in another table: a top-level key written after a
	// [table] header, or a table key written before any header.
	for _, k := range schema {
		if k.name == name && k.table != table {
			if k.table == "" {
				fmt.Fprintf(&b, "; %s is a top-level key and must come before the first [table] header", name)
			} else {
				fmt.Fprintf(&b, "; %s belongs in [%s]", name, k.table)
			}
			return errors.New(b.String())
		}
	}
	var names []string
	best, bestDist := "", 3
	for _, k := range schema {
		if k.table != table {
			continue
		}
		names = append(names, k.name)
		if d := editDistance(strings.ToLower(name), k.name); d < bestDist {
			best, bestDist = k.name, d
		}
	}
	if table == "" {
		for _, t := range tables {
			if d := editDistance(strings.ToLower(name), t); d < bestDist {
				best, bestDist = "["+t+"]", d
			}
		}
	}
	if best != "" {
		fmt.Fprintf(&b, " (did you mean %s?)", best)
	}
	if table == "" {
		fmt.Fprintf(&b, "; the top-level keys are %s and the tables [%s]", strings.Join(names, ", "), strings.Join(tables, "], ["))
	} else {
		fmt.Fprintf(&b, "; the keys of [%s] are %s", table, strings.Join(names, ", "))
	}
	return errors.New(b.String())
}

// editDistance is the Levenshtein distance of a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Converters from decoded TOML values (string, int64, float64, bool, []any,
// map[string]any, times) to field types.

func asString(normalize func(string) string) func(any) (string, error) {
	return func(v any) (string, error) {
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("must be a string in double quotes, not %s", typeName(v))
		}
		if normalize != nil {
			s = normalize(s)
		}
		return s, nil
	}
}

func asInt(v any) (int, error) {
	switch n := v.(type) {
	case int64:
		if n < math.MinInt32 || n > math.MaxInt32 {
			return 0, errors.New("is far out of range")
		}
		return int(n), nil
	case string:
		if _, err := strconv.Atoi(n); err == nil {
			return 0, fmt.Errorf("must be an integer, not a string; write it without quotes: %s", n)
		}
	}
	return 0, fmt.Errorf("must be an integer, not %s", typeName(v))
}

func asBool(v any) (bool, error) {
	b, ok := v.(bool)
	if !ok {
		if s, isStr := v.(string); isStr && (s == "true" || s == "false") {
			return false, fmt.Errorf("must be true or false without quotes, not a string")
		}
		return false, fmt.Errorf("must be true or false, not %s", typeName(v))
	}
	return b, nil
}

func asDuration(v any) (Duration, error) {
	s, ok := v.(string)
	if !ok {
		return 0, fmt.Errorf(`must be a duration in double quotes such as "30s", "15m" or "7d", not %s`, typeName(v))
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, err
	}
	return Duration(d), nil
}

func asStrings(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		if _, isStr := v.(string); isStr {
			return nil, errors.New(`must be a list of strings such as ["a", "b"], not a string; write a single name as ["name"]`)
		}
		return nil, fmt.Errorf(`must be a list of strings such as ["a", "b"], not %s`, typeName(v))
	}
	var out []string // nil for an empty list, as in Default
	for i, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("element %d must be a string in double quotes, not %s", i+1, typeName(e))
		}
		out = append(out, s)
	}
	return out, nil
}

// typeName says what kind of TOML value v is, for messages.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "missing"
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a decimal number"
	case bool:
		return "a boolean"
	case []any:
		return "a list"
	case []map[string]any:
		return "an array of tables"
	case map[string]any:
		return "a table"
	default:
		return "a date or time"
	}
}

// render writes v the way a TOML file would, for messages, cut to a
// readable length.
func render(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = strconv.Quote(x)
	case Duration:
		s = strconv.Quote(x.String())
	case []string:
		q := make([]string, len(x))
		for i, e := range x {
			q[i] = strconv.Quote(e)
		}
		s = "[" + strings.Join(q, ", ") + "]"
	case []any:
		q := make([]string, len(x))
		for i, e := range x {
			q[i] = render(e)
		}
		s = "[" + strings.Join(q, ", ") + "]"
	case map[string]any, []map[string]any:
		s = "{...}"
	case time.Time:
		s = x.Format(time.RFC3339Nano)
	default:
		s = fmt.Sprint(x)
	}
	if len(s) > 80 {
		cut := 77
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// Checks of single values. Their errors say what is allowed.

func oneOf(allowed ...string) func(string) error {
	return func(s string) error {
		if slices.Contains(allowed, s) {
			return nil
		}
		return fmt.Errorf("must be one of %s", quoteAll(allowed))
	}
}

func intOneOf(allowed ...int) func(int) error {
	return func(n int) error {
		if slices.Contains(allowed, n) {
			return nil
		}
		s := make([]string, len(allowed))
		for i, a := range allowed {
			s[i] = strconv.Itoa(a)
		}
		return fmt.Errorf("must be %s", strings.Join(s, " or "))
	}
}

func intRange(lo, hi int) func(int) error {
	return func(n int) error {
		switch {
		case n < lo:
			return fmt.Errorf("must be at least %d (allowed: %d to %d)", lo, lo, hi)
		case n > hi:
			return fmt.Errorf("must be at most %d (allowed: %d to %d)", hi, lo, hi)
		}
		return nil
	}
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

func nonNegative(d Duration) error {
	if d < 0 {
		return errNegative
	}
	return nil
}

func checkPeriod(d Duration) error {
	switch {
	case d.D()%time.Second != 0 || d.D() < MinPeriod:
		return fmt.Errorf("must be whole seconds from %s to %s; authenticator apps use \"30s\"", Duration(MinPeriod), Duration(MaxPeriod))
	case d.D() > MaxPeriod:
		return fmt.Errorf("must be at most %s; authenticator apps use \"30s\"", Duration(MaxPeriod))
	}
	return nil
}

// cleanAbs cleans an absolute path ("/var/lib/totpd/" becomes
// "/var/lib/totpd"); a relative path is left for checkPath to refuse.
func cleanAbs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return p
}

// checkPath accepts a clean absolute path other than "/".
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("must not be empty; write an absolute path")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("must not contain a NUL character")
	case !filepath.IsAbs(p):
		return errors.New("must be an absolute path, starting with /")
	case filepath.Clean(p) != p:
		return fmt.Errorf("must be a clean path; write %s", strconv.Quote(filepath.Clean(p)))
	case p == "/":
		return errors.New("must not be the root directory")
	}
	return nil
}

// optionalPath accepts "" (none) or a path as checkPath does.
func optionalPath(p string) error {
	if p == "" {
		return nil
	}
	return checkPath(p)
}

func checkSocket(p string) error {
	if err := checkPath(p); err != nil {
		return err
	}
	if len(p) > MaxSocketPath {
		return fmt.Errorf("is %d bytes long; a Unix socket path can have at most %d", len(p), MaxSocketPath)
	}
	return nil
}

// checkMetricsFile accepts "" (no file) or a path as checkPath does that
// ends in ".prom": node_exporter's textfile collector reads only those, so
// any other name would be written and never read.
func checkMetricsFile(p string) error {
	if p == "" {
		return nil
	}
	if err := optionalPath(p); err != nil {
		return err
	}
	if !strings.HasSuffix(p, ".prom") || filepath.Base(p) == ".prom" {
		return errors.New(`must end in ".prom", the files node_exporter's textfile collector reads, e.g. "/var/lib/prometheus/node-exporter/totpd.prom"`)
	}
	return nil
}

func checkAdminGroup(g string) error {
	if g == "" {
		return nil // root only
	}
	return checkGroupName(g)
}

// each checks every name of a list with check; the error names the one refused.
func each(check func(string) error) func([]string) error {
	return func(list []string) error {
		for _, n := range list {
			if err := check(n); err != nil {
				return fmt.Errorf("%s: %w", strconv.Quote(n), err)
			}
		}
		return nil
	}
}

// checkUserName accepts the user names a login can have: the one rule of
// package names, which the daemon holds every login's name to, so that
// no name listed here can fail to match the login it is meant for
// (exempt_users = ["Domain Admins@ad.example"] is refused: no login
// name has a space). Besides, a number is refused, as for groups: the
// file lists names, and "1000" would most likely be meant as a uid.
func checkUserName(n string) error {
	const what = "a valid user name"
	if err := names.Check(n); err != nil {
		var ne *names.Error
		if errors.As(err, &ne) {
			return fmt.Errorf("is not %s: %s", what, ne.Why)
		}
		return fmt.Errorf("is not %s: %w", what, err)
	}
	if strings.Trim(n, "0123456789") == "" {
		return fmt.Errorf("is not %s: a number would be read as an ID; write the name", what)
	}
	return nil
}

// checkGroupName accepts what the NSS may call a group: besides the
// portable names of groupadd ("totpd-admin", "adm1n$"), the longer ones
// of LDAP and Active Directory ("Domain Admins@ad.example"). It refuses
// what can never be one: empty names, numbers (they read as IDs),
// control characters, the ':' and ',' of /etc/group, a leading '-' or
// space, "." and "..", and over 256 bytes. A group name is only ever
// looked up, never a login or a file name, so it is not held to the
// user name rule (package names).
func checkGroupName(n string) error {
	const what = "a valid group name"
	switch {
	case n == "":
		return fmt.Errorf("is not %s: it is empty", what)
	case len(n) > 256:
		return fmt.Errorf("is not %s: longer than 256 bytes", what)
	case !utf8.ValidString(n):
		return fmt.Errorf("is not %s: not valid UTF-8", what)
	case n == "." || n == "..":
		return fmt.Errorf("is not %s", what)
	case strings.Trim(n, "0123456789") == "":
		return fmt.Errorf("is not %s: a number would be read as an ID; write the name", what)
	case n[0] == '-' || unicode.IsSpace(rune(n[0])) || strings.TrimRightFunc(n, unicode.IsSpace) != n:
		return fmt.Errorf("is not %s: it starts with '-' or starts or ends with a space", what)
	case strings.ContainsAny(n, ":,/"):
		return fmt.Errorf("is not %s: it contains ':', ',' or '/'", what)
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return fmt.Errorf("is not %s: it contains a control character", what)
	}
	return nil
}

// checkIssuer accepts a name to show in authenticator apps. The Key URI
// format forbids ':' in it (it separates the issuer from the account).
func checkIssuer(s string) error {
	switch {
	case s == "":
		return nil // host name
	case len(s) > 100:
		return errors.New("must be at most 100 bytes")
	case !utf8.ValidString(s):
		return errors.New("must be valid UTF-8")
	case strings.Contains(s, ":"):
		return errors.New("must not contain ':' (authenticator apps read it as the end of the issuer)")
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return errors.New("must not contain control characters")
	case strings.TrimSpace(s) != s:
		return errors.New("must not start or end with a space")
	}
	return nil
}

func durationRange(lo, hi time.Duration) func(Duration) error {
	return func(d Duration) error {
		switch {
		case d.D() < lo:
			return fmt.Errorf("must be at least %s (allowed: %s to %s)", Duration(lo), Duration(lo), Duration(hi))
		case d.D() > hi:
			return fmt.Errorf("must be at most %s (allowed: %s to %s)", Duration(hi), Duration(lo), Duration(hi))
		}
		return nil
	}
}

// endpointExample ends the messages about [cluster] endpoints.
const endpointExample = `e.g. "https://etcd1:2379"`

// checkEndpoints accepts at most MaxEndpoints etcd client URLs, each as
// checkEndpoint says, none twice, all http:// or all https://.
func checkEndpoints(list []string) error {
	if len(list) > MaxEndpoints {
		return fmt.Errorf("lists %d endpoints; at most %d are allowed (an etcd cluster has a handful of members)", len(list), MaxEndpoints)
	}
	if err := each(checkEndpoint)(list); err != nil {
		return err
	}
	seen := map[string]string{}
	schemes := map[string]bool{}
	for _, e := range list {
		u, _ := url.Parse(e) // checked above
		id := u.Scheme + "://" + strings.ToLower(u.Host)
		if first, dup := seen[id]; dup {
			return fmt.Errorf("%s: the same endpoint as %s; list each etcd member once", strconv.Quote(e), strconv.Quote(first))
		}
		seen[id] = e
		schemes[u.Scheme] = true
	}
	if len(schemes) > 1 {
		return errors.New("mixes http:// and https:// endpoints; use https:// for every member (or http:// for every member, without TLS)")
	}
	return nil
}

// checkEndpoint accepts an etcd client URL: http:// or https:// in lower
// case, a host and a port, and nothing else but an optional "/".
func checkEndpoint(e string) error {
	// In lower case as written, since that is how the client tells
	// whether to use TLS.
	if !strings.HasPrefix(e, "https://") && !strings.HasPrefix(e, "http://") {
		return fmt.Errorf("must start with https:// or http://, in lower case, %s", endpointExample)
	}
	u, err := url.Parse(e)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("is not a URL (%v); write scheme://host:port, %s", err, endpointExample)
	}
	switch {
	case u.Opaque != "":
		return fmt.Errorf("must be written scheme://host:port, %s", endpointExample)
	case u.User != nil:
		return errors.New("must not hold a user name or password (the file is readable by every user); set [cluster] username, and the password in the credential totpd.etcd-password or in password_file")
	case u.Hostname() == "":
		return fmt.Errorf("has no host; write scheme://host:port, %s", endpointExample)
	case u.Port() == "":
		return fmt.Errorf("has no port; etcd's client port is usually 2379, %s", endpointExample)
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("must not have a path (%s); write scheme://host:port, %s", strconv.Quote(u.Path), endpointExample)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(e, "#"):
		return fmt.Errorf("must not have a query or fragment; write scheme://host:port, %s", endpointExample)
	}
	if p, err := strconv.Atoi(u.Port()); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("has port %s; a port is 1 to 65535, %s", u.Port(), endpointExample)
	}
	return nil
}

// checkPrefix accepts an etcd key prefix such as "/totpd/": printable
// ASCII without spaces, starting and ending with "/", no empty path
// element, not "/" alone, at most MaxPrefix bytes.
func checkPrefix(p string) error {
	const example = `e.g. "/totpd/"`
	switch {
	case p == "":
		return fmt.Errorf("must not be empty; write a key prefix, %s", example)
	case len(p) > MaxPrefix:
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(p), MaxPrefix)
	case strings.IndexFunc(p, func(r rune) bool { return r <= ' ' || r > '~' }) >= 0:
		return errors.New("must be printable ASCII, without spaces")
	case p[0] != '/' || p[len(p)-1] != '/':
		return fmt.Errorf(`must start and end with "/", %s`, example)
	case p == "/":
		return fmt.Errorf(`must not be "/" alone, which is all of etcd's keys; %s`, example)
	case strings.Contains(p, "//"):
		return fmt.Errorf(`must not contain "//"; %s`, example)
	}
	return nil
}

// checkEtcdUsername accepts "" (no authentication) or an etcd user name:
// printable, no spaces, at most MaxEtcdUsername bytes.
func checkEtcdUsername(n string) error {
	switch {
	case n == "":
		return nil
	case len(n) > MaxEtcdUsername:
		return fmt.Errorf("is %d bytes long; at most %d are allowed", len(n), MaxEtcdUsername)
	case !utf8.ValidString(n):
		return errors.New("must be valid UTF-8")
	case strings.IndexFunc(n, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0:
		return errors.New("must be an etcd user name: printable characters, no spaces")
	}
	return nil
}

// Checks of [cluster] that involve several keys (see also).

func needEndpoints(c *Config) error {
	if c.Cluster.Backend == BackendEtcd && len(c.Cluster.Endpoints) == 0 {
		return fmt.Errorf(`[cluster] backend = "etcd": [cluster] endpoints is empty; list the etcd client URLs, e.g. endpoints = ["https://etcd1:2379", "https://etcd2:2379", "https://etcd3:2379"], or use backend = "" for this host only`)
	}
	return nil
}

// tlsNeedsHTTPS refuses TLS files with http:// endpoints, which would
// not use them: whoever set them believes the traffic is encrypted.
func tlsNeedsHTTPS(c *Config) error {
	cl := c.Cluster
	if len(cl.Endpoints) == 0 || !strings.HasPrefix(cl.Endpoints[0], "http://") {
		return nil // checkEndpoints: all have the same scheme
	}
	var set []string
	for _, f := range []struct{ name, v string }{{"ca_file", cl.CAFile}, {"cert_file", cl.CertFile}, {"key_file", cl.KeyFile}} {
		if f.v != "" {
			set = append(set, f.name)
		}
	}
	if len(set) == 0 {
		return nil
	}
	return fmt.Errorf("[cluster] endpoints = %s: http:// does not use TLS, but [cluster] %s %s set; write https:// endpoints, or remove %s",
		render(cl.Endpoints), strings.Join(set, ", "), pluralIs(set), strings.Join(set, ", "))
}

// pluralIs is "is" for one name and "are" for more.
func pluralIs(list []string) string {
	if len(list) == 1 {
		return "is"
	}
	return "are"
}

func certNeedsKey(c *Config) error {
	if c.Cluster.CertFile != "" && c.Cluster.KeyFile == "" {
		return fmt.Errorf("[cluster] cert_file = %s: [cluster] key_file is empty; the client certificate needs its key: set both or neither",
			strconv.Quote(c.Cluster.CertFile))
	}
	return nil
}

func keyNeedsCert(c *Config) error {
	if c.Cluster.KeyFile != "" && c.Cluster.CertFile == "" {
		return fmt.Errorf("[cluster] key_file = %s: [cluster] cert_file is empty; the client key needs its certificate: set both or neither",
			strconv.Quote(c.Cluster.KeyFile))
	}
	return nil
}

func passwordNeedsUser(c *Config) error {
	if c.Cluster.PasswordFile != "" && c.Cluster.Username == "" {
		return fmt.Errorf("[cluster] password_file = %s: [cluster] username is empty; the password is that of the etcd user named by username: set username, or remove password_file",
			strconv.Quote(c.Cluster.PasswordFile))
	}
	return nil
}
