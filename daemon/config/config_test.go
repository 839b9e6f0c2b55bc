package config

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/daemon/names"
)

const name = "/etc/totpd/totpd.toml"

func TestDefault(t *testing.T) {
	c := Default()
	require.NoError(t, c.Validate())
	require.Equal(t, "/run/totpd/totpd.sock", c.Socket)
	require.Equal(t, "/var/lib/totpd", c.StateDir)
	require.Equal(t, "/etc/totpd/master.key", c.MasterKeyFile)
	require.Equal(t, "totpd-admin", c.AdminGroup)
	require.Empty(t, c.Issuer)
	require.Equal(t, TOTP{Algorithm: "SHA1", Digits: 6, Period: Duration(30 * time.Second), Window: 1}, c.TOTP)
	require.Equal(t, 30*time.Second, c.TOTP.Period.D())
	require.Equal(t, Lockout{MaxFailures: 5, Duration: Duration(15 * time.Minute)}, c.Lockout)
	require.Equal(t, Policy{Require: "none", GracePeriod: Duration(7 * 24 * time.Hour)}, c.Policy)
	require.Equal(t, 1, c.Enroll.ConfirmCodes)
	require.Equal(t, 10, c.Recovery.Codes)
	require.Equal(t, Cluster{Backend: "", Prefix: "/totpd/", Timeout: Duration(2 * time.Second), Offline: "local"}, c.Cluster)
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, in := range []string{"", "\n", "# only a comment\n", "[totp]\n[policy]\n"} {
		c, err := Parse([]byte(in), name)
		require.NoError(t, err)
		require.Equal(t, Default(), c)
	}
}

// The packaged file spells out the defaults.
func TestPackagedFileIsDefault(t *testing.T) {
	c, err := Load("../../packaging/totpd.toml")
	require.NoError(t, err)
	require.Equal(t, Default(), c)

	// Every key of the schema is written out in it.
	data, err := os.ReadFile("../../packaging/totpd.toml")
	require.NoError(t, err)
	var tree map[string]any
	md, err := toml.Decode(string(data), &tree)
	require.NoError(t, err)
	for _, k := range schema {
		if k.table == "" {
			require.True(t, md.IsDefined(k.name), k.label())
		} else {
			require.True(t, md.IsDefined(k.table, k.name), k.label())
		}
	}
}

func TestParseFull(t *testing.T) {
	in := `
socket          = "/run/totp/s.sock"
state_dir       = "/srv/totpd/"     # cleaned
master_key_file = "/etc/totpd/keys/../master.key"
admin_group     = "wheel"
issuer          = "ACME Corp"

[totp]
algorithm = "sha256"   # any case
digits    = 8
period    = "60s"
window    = 2

[lockout]
max_failures = 10
duration     = "0s"

[policy]
require         = "Groups"
groups          = ["staff", "Domain Users@ad.example.com"]
exempt_users    = ["breakglass"]
exempt_groups   = ["robots", "adm1n$"]
grace_period    = "1d12h"
enroll_at_login = true

[enroll]
confirm_codes = 2

[recovery]
codes = 0

[cluster]
backend       = "etcd"
endpoints     = ["https://etcd1:2379", "https://10.0.0.2:2379/", "https://[fd00::3]:2379"]
prefix        = "/fleet/a/"
ca_file       = "/etc/totpd/etcd/ca.pem"
cert_file     = "/etc/totpd/etcd//client.pem"   # cleaned
key_file      = "/etc/totpd/etcd/client.key"
username      = "totpd-host"
password_file = "/etc/totpd/etcd/password"
timeout       = "500ms"
offline       = "deny"
`
	c, err := Parse([]byte(in), name)
	require.NoError(t, err)
	require.Equal(t, Config{
		Socket:        "/run/totp/s.sock",
		StateDir:      "/srv/totpd",
		MasterKeyFile: "/etc/totpd/master.key",
		AdminGroup:    "wheel",
		Issuer:        "ACME Corp",
		TOTP:          TOTP{Algorithm: AlgorithmSHA256, Digits: 8, Period: Duration(time.Minute), Window: 2},
		Lockout:       Lockout{MaxFailures: 10, Duration: 0},
		Policy: Policy{
			Require:       RequireGroups,
			Groups:        []string{"staff", "Domain Users@ad.example.com"},
			ExemptUsers:   []string{"breakglass"},
			ExemptGroups:  []string{"robots", "adm1n$"},
			GracePeriod:   Duration(36 * time.Hour),
			EnrollAtLogin: true,
		},
		Enroll:   Enroll{ConfirmCodes: 2},
		Recovery: Recovery{Codes: 0},
		Cluster: Cluster{
			Backend:      BackendEtcd,
			Endpoints:    []string{"https://etcd1:2379", "https://10.0.0.2:2379/", "https://[fd00::3]:2379"},
			Prefix:       "/fleet/a/",
			CAFile:       "/etc/totpd/etcd/ca.pem",
			CertFile:     "/etc/totpd/etcd/client.pem",
			KeyFile:      "/etc/totpd/etcd/client.key",
			Username:     "totpd-host",
			PasswordFile: "/etc/totpd/etcd/password",
			Timeout:      Duration(500 * time.Millisecond),
			Offline:      OfflineDeny,
		},
	}, c)
	require.NoError(t, c.Validate())
	require.Equal(t, "ACME Corp", c.EffectiveIssuer())
}

// Other ways TOML has to write the same keys.
func TestParseTOMLForms(t *testing.T) {
	c, err := Parse([]byte(`
totp = { digits = 8, period = "45s" }
lockout.max_failures = 3
[policy]
groups = [
  "a",
  "b",   # trailing comma
]
`), name)
	require.NoError(t, err)
	require.Equal(t, 8, c.TOTP.Digits)
	require.Equal(t, 45*time.Second, c.TOTP.Period.D())
	require.Equal(t, "SHA1", c.TOTP.Algorithm, "keys left out keep their defaults")
	require.Equal(t, 3, c.Lockout.MaxFailures)
	require.Equal(t, []string{"a", "b"}, c.Policy.Groups)
}

func TestParseDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{`[policy]` + "\n" + `grace_period = "7d"`, 7 * 24 * time.Hour},
		{`[policy]` + "\n" + `grace_period = "1d12h"`, 36 * time.Hour},
		{`[policy]` + "\n" + `grace_period = "0s"`, 0},
		{`[policy]` + "\n" + `grace_period = "30s"`, 30 * time.Second},
		{`[policy]` + "\n" + `grace_period = "90d"`, 90 * 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), name)
			require.NoError(t, err)
			require.Equal(t, tt.want, c.Policy.GracePeriod.D())
		})
	}
}

// Each bad key or value gives one error that names the file, the key, the
// value and what is allowed.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string // the whole message
	}{
		// top level
		{"socket relative", `socket = "run/totpd.sock"`,
			`socket = "run/totpd.sock": must be an absolute path, starting with /`},
		{"socket empty", `socket = ""`,
			`socket = "": must not be empty; write an absolute path`},
		{"socket too long", `socket = "/` + strings.Repeat("x", 110) + `"`,
			`: is 111 bytes long; a Unix socket path can have at most 107`},
		{"socket integer", `socket = 5`,
			`socket = 5: must be a string in double quotes, not an integer`},
		{"state_dir relative", `state_dir = "var/lib/totpd"`,
			`state_dir = "var/lib/totpd": must be an absolute path, starting with /`},
		{"state_dir root", `state_dir = "/"`,
			`state_dir = "/": must not be the root directory`},
		{"state_dir NUL", `state_dir = "/var/\u0000x"`,
			`state_dir = "/var/\x00x": must not contain a NUL character`},
		{"master_key_file relative", `master_key_file = "master.key"`,
			`master_key_file = "master.key": must be an absolute path, starting with /`},
		{"admin_group colon", `admin_group = "a:b"`,
			`admin_group = "a:b": is not a valid group name: it contains ':', ',' or '/'`},
		{"admin_group number", `admin_group = "1000"`,
			`admin_group = "1000": is not a valid group name: a number would be read as an ID; write the name`},
		{"admin_group dash", `admin_group = "-x"`,
			`admin_group = "-x": is not a valid group name: it starts with '-' or starts or ends with a space`},
		{"admin_group newline", `admin_group = "a\nb"`,
			`admin_group = "a\nb": is not a valid group name: it contains a control character`},
		{"admin_group list", `admin_group = ["wheel"]`,
			`admin_group = ["wheel"]: must be a string in double quotes, not a list`},
		{"issuer colon", `issuer = "ACME: SSH"`,
			`issuer = "ACME: SSH": must not contain ':' (authenticator apps read it as the end of the issuer)`},
		{"issuer too long", `issuer = "` + strings.Repeat("x", 101) + `"`,
			`: must be at most 100 bytes`},

		// [totp]
		{"algorithm", "[totp]\nalgorithm = \"MD5\"",
			`[totp] algorithm = "MD5": must be one of "SHA1", "SHA256", "SHA512"`},
		{"digits 7", "[totp]\ndigits = 7",
			`[totp] digits = 7: must be 6 or 8`},
		{"digits quoted", "[totp]\ndigits = \"6\"",
			`[totp] digits = "6": must be an integer, not a string; write it without quotes: 6`},
		{"digits float", "[totp]\ndigits = 6.0",
			`[totp] digits = 6: must be an integer, not a decimal number`},
		{"digits huge", "[totp]\ndigits = 99999999999",
			`[totp] digits = 99999999999: is far out of range`},
		{"period zero", "[totp]\nperiod = \"0s\"",
			`[totp] period = "0s": must be whole seconds from 1s to 5m; authenticator apps use "30s"`},
		{"period fraction", "[totp]\nperiod = \"1.5s\"",
			`[totp] period = "1.5s": must be whole seconds from 1s to 5m; authenticator apps use "30s"`},
		{"period too long", "[totp]\nperiod = \"301s\"",
			`[totp] period = "301s": must be at most 5m; authenticator apps use "30s"`},
		{"period integer", "[totp]\nperiod = 30",
			`[totp] period = 30: must be a duration in double quotes such as "30s", "15m" or "7d", not an integer`},
		{"period negative", "[totp]\nperiod = \"-30s\"",
			`[totp] period = "-30s": must not be negative`},
		{"window negative", "[totp]\nwindow = -1",
			`[totp] window = -1: must be at least 0 (allowed: 0 to 10)`},
		{"window 11", "[totp]\nwindow = 11",
			`[totp] window = 11: must be at most 10 (allowed: 0 to 10)`},

		// [lockout]
		{"max_failures 0", "[lockout]\nmax_failures = 0",
			`[lockout] max_failures = 0: must be at least 1 (allowed: 1 to 1000)`},
		{"max_failures 1001", "[lockout]\nmax_failures = 1001",
			`[lockout] max_failures = 1001: must be at most 1000 (allowed: 1 to 1000)`},
		{"duration negative", "[lockout]\nduration = \"-15m\"",
			`[lockout] duration = "-15m": must not be negative`},
		{"duration garbage", "[lockout]\nduration = \"15 minutes\"",
			`[lockout] duration = "15 minutes": unknown unit " minutes"; write a number with a unit s, m, h or d, e.g. "30s", "15m", "7d" or "1d12h"`},
		{"duration week", "[lockout]\nduration = \"1w\"",
			`[lockout] duration = "1w": unknown unit "w"; write a number with a unit s, m, h or d, e.g. "30s", "15m", "7d" or "1d12h"`},
		{"duration empty", "[lockout]\nduration = \"\"",
			`[lockout] duration = "": empty duration; write a number with a unit s, m, h or d, e.g. "30s", "15m", "7d" or "1d12h"`},

		// [policy]
		{"require", "[policy]\nrequire = \"some\"",
			`[policy] require = "some": must be one of "none", "all", "groups"`},
		{"require boolean", "[policy]\nrequire = true",
			`[policy] require = true: must be a string in double quotes, not a boolean`},
		{"require groups without groups", "[policy]\nrequire = \"groups\"",
			`[policy] require = "groups": [policy] groups is empty; list the groups whose members must use a code, e.g. groups = ["staff"], or use require = "all"`},
		{"groups string", "[policy]\ngroups = \"staff\"",
			`[policy] groups = "staff": must be a list of strings such as ["a", "b"], not a string; write a single name as ["name"]`},
		{"groups element", "[policy]\ngroups = [\"staff\", 10]",
			`[policy] groups = ["staff", 10]: element 2 must be a string in double quotes, not an integer`},
		{"groups bad name", "[policy]\ngroups = [\"staff\", \"\"]",
			`[policy] groups = ["staff", ""]: "": is not a valid group name: it is empty`},
		{"exempt_users bad name", "[policy]\nexempt_users = [\"../root\"]",
			`[policy] exempt_users = ["../root"]: "../root": is not a valid user name: it contains ':', ',' or '/'`},
		{"exempt_users space", "[policy]\nexempt_users = [\"Domain Admins@x\"]",
			`[policy] exempt_users = ["Domain Admins@x"]: "Domain Admins@x": is not a valid user name: it contains a space, which no login name has`},
		{"exempt_users too long", "[policy]\nexempt_users = [\"" + strings.Repeat("u", 65) + "\"]",
			`: is not a valid user name: it is 65 bytes long; the limit is 64`},
		{"exempt_groups bad name", "[policy]\nexempt_groups = [\"a,b\"]",
			`[policy] exempt_groups = ["a,b"]: "a,b": is not a valid group name: it contains ':', ',' or '/'`},
		{"grace_period negative", "[policy]\ngrace_period = \"-7d\"",
			`[policy] grace_period = "-7d": must not be negative`},
		{"grace_period bad", "[policy]\ngrace_period = \"7days\"",
			`[policy] grace_period = "7days": unknown unit "days"; write a number with a unit s, m, h or d, e.g. "30s", "15m", "7d" or "1d12h"`},
		{"enroll_at_login string", "[policy]\nenroll_at_login = \"true\"",
			`[policy] enroll_at_login = "true": must be true or false without quotes, not a string`},
		{"enroll_at_login number", "[policy]\nenroll_at_login = 1",
			`[policy] enroll_at_login = 1: must be true or false, not an integer`},

		// [enroll], [recovery]
		{"confirm_codes 3", "[enroll]\nconfirm_codes = 3",
			`[enroll] confirm_codes = 3: must be 1 or 2`},
		{"confirm_codes 0", "[enroll]\nconfirm_codes = 0",
			`[enroll] confirm_codes = 0: must be 1 or 2`},
		{"recovery negative", "[recovery]\ncodes = -1",
			`[recovery] codes = -1: must be at least 0 (allowed: 0 to 100)`},
		{"recovery 101", "[recovery]\ncodes = 101",
			`[recovery] codes = 101: must be at most 100 (allowed: 0 to 100)`},

		// tables
		{"table not a table", "totp = 5",
			`[totp] must be a table, written as a [totp] header line followed by its keys, not an integer`},
		{"array of tables", "[[lockout]]\nmax_failures = 3",
			`[lockout] must be a table, written as a [lockout] header line followed by its keys, not an array of tables`},
		{"key as table", "[totp.digits]\nx = 1",
			`[totp] digits = {...}: must be an integer, not a table`},

		// syntax
		{"syntax", "[totp]\ndigits = 6 6\n",
			`line 2, column 11: expected a top-level item to end with a newline, comment, or EOF, but got '6' instead (TOML syntax error)`},
		{"duplicate", "[totp]\ndigits = 6\ndigits = 8\n",
			`line 3, column 12: Key 'totp.digits' has already been defined. (TOML syntax error)`},
		{"NUL byte", "socket = \"/x\"\x00",
			`contains a NUL byte; this is not a text file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), name)
			require.Error(t, err)
			msg := err.Error()
			require.True(t, strings.HasPrefix(msg, name+": "), msg)
			require.NotContains(t, msg, "\n", "one problem, one line")
			if strings.HasPrefix(tt.want, ":") || strings.HasPrefix(tt.want, "line ") {
				require.Contains(t, msg, tt.want)
			} else {
				require.Equal(t, name+": "+tt.want, msg)
			}
		})
	}
}

func TestParseUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"top level", `sockets = "/run/x"`,
			`sockets: unknown key (did you mean socket?); the top-level keys are socket, state_dir, master_key_file, admin_group, issuer, metrics_file and the tables [totp], [lockout], [policy], [enroll], [recovery], [cluster]`},
		{"top level no suggestion", `frobnicate = 1`,
			`frobnicate: unknown key; the top-level keys are socket, state_dir, master_key_file, admin_group, issuer, metrics_file and the tables [totp], [lockout], [policy], [enroll], [recovery], [cluster]`},
		{"case matters", `Socket = "/run/x"`,
			`Socket: unknown key (did you mean socket?); the top-level keys are`},
		{"in a table", "[totp]\ndigit = 6",
			`[totp] digit: unknown key (did you mean digits?); the keys of [totp] are algorithm, digits, period, window`},
		{"in a table no suggestion", "[recovery]\nenabled = true",
			`[recovery] enabled: unknown key; the keys of [recovery] are codes`},
		{"unknown table", "[ldap]\nurl = \"x\"",
			`[ldap]: unknown table; the tables are [totp], [lockout], [policy], [enroll], [recovery], [cluster]`},
		{"misspelt table", "[lockouts]\nmax_failures = 3",
			`[lockouts]: unknown table; the tables are [totp], [lockout], [policy], [enroll], [recovery], [cluster]`},
		{"sub-table", "[policy.extra]\nx = 1",
			`[policy] extra: unknown key; the keys of [policy] are require, groups, exempt_users, exempt_groups, grace_period, enroll_at_login`},
		{"dotted unknown", "policy.extra.x = 1",
			`[policy] extra: unknown key; the keys of [policy] are`},
		{"top-level key after a table", "[recovery]\ncodes = 10\nissuer = \"ACME\"",
			`[recovery] issuer: unknown key; issuer is a top-level key and must come before the first [table] header`},
		{"table key at top level", "window = 2",
			`window: unknown key; window belongs in [totp]`},
		{"table key in the wrong table", "[policy]\nmax_failures = 2",
			`[policy] max_failures: unknown key; max_failures belongs in [lockout]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), name)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "\n")
			require.True(t, strings.HasPrefix(err.Error(), name+": "+tt.want), err.Error())
		})
	}
}

// Every problem is reported, one a line, in the order of the file.
func TestParseReportsEveryProblem(t *testing.T) {
	_, err := Parse([]byte(`
socket = "relative"
bogus = 1
[totp]
digits = 7
[lockout]
max_failures = 0
[ldap]
url = "x"
`), name)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 5, err.Error())
	require.True(t, strings.HasPrefix(lines[0], name+`: socket = "relative": `))
	require.True(t, strings.HasPrefix(lines[1], name+": bogus: unknown key"))
	require.Equal(t, name+": [totp] digits = 7: must be 6 or 8", lines[2])
	require.Equal(t, name+": [lockout] max_failures = 0: must be at least 1 (allowed: 1 to 1000)", lines[3])
	require.True(t, strings.HasPrefix(lines[4], name+": [ldap]: unknown table"))
}

func TestValidate(t *testing.T) {
	c := Default()
	c.TOTP.Digits = 7
	c.Lockout.Duration = Duration(-time.Minute)
	c.Policy.Require = RequireGroups
	c.Policy.ExemptUsers = []string{"ok", "bad:name"}
	err := c.Validate()
	require.EqualError(t, err, strings.Join([]string{
		`[totp] digits = 7: must be 6 or 8`,
		`[lockout] duration = "-1m": must not be negative`,
		`[policy] exempt_users = ["ok", "bad:name"]: "bad:name": is not a valid user name: it contains ':', ',' or '/'`,
		`[policy] require = "groups": [policy] groups is empty; list the groups whose members must use a code, e.g. groups = ["staff"], or use require = "all"`,
	}, "\n"))

	c = Default()
	c.Policy.Require = "NONE" // Parse normalizes; Validate does not
	require.ErrorContains(t, c.Validate(), `[policy] require = "NONE": must be one of "none", "all", "groups"`)
}

func TestEffectiveIssuer(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	c := Default()
	require.Equal(t, host, c.EffectiveIssuer())
	c.Issuer = "ACME"
	require.Equal(t, "ACME", c.EffectiveIssuer())
}

// A Config written back with the toml encoder reads the same.
func TestEncodeRoundTrip(t *testing.T) {
	c := Default()
	c.Policy.Require = RequireGroups
	c.Policy.Groups = []string{"staff"}
	c.Policy.GracePeriod = Duration(36 * time.Hour)
	var buf bytes.Buffer
	require.NoError(t, toml.NewEncoder(&buf).Encode(c))
	require.Contains(t, buf.String(), `grace_period = "1d12h"`)
	back, err := Parse(buf.Bytes(), "encoded")
	require.NoError(t, err, buf.String())
	require.Equal(t, c, back)
}

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "totpd.toml")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func TestLoad(t *testing.T) {
	p := writeFile(t, "[lockout]\nmax_failures = 3\n", 0o644)
	c, err := Load(p)
	require.NoError(t, err)
	require.Equal(t, 3, c.Lockout.MaxFailures)

	p = writeFile(t, "[lockout]\nmax_failures = 0\n", 0o644)
	_, err = Load(p)
	require.EqualError(t, err, p+": [lockout] max_failures = 0: must be at least 1 (allowed: 1 to 1000)")
}

func TestLoadMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.toml")

	_, err := Load(missing)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Contains(t, err.Error(), missing)

	_, err = LoadOrDefault(missing, true)
	require.ErrorIs(t, err, fs.ErrNotExist)

	c, err := LoadOrDefault(missing, false)
	require.NoError(t, err)
	require.Equal(t, Default(), c)

	// Only a missing file falls back: a bad one is still an error.
	bad := writeFile(t, "nonsense = 1\n", 0o644)
	_, err = LoadOrDefault(bad, false)
	require.ErrorContains(t, err, "nonsense: unknown key")

	// So is a directory.
	_, err = LoadOrDefault(t.TempDir(), false)
	require.ErrorContains(t, err, "not a regular file but a directory; put the configuration file itself there")
}

func TestLoadRefusesUnsafeFiles(t *testing.T) {
	p := writeFile(t, "", 0o666)
	_, err := Load(p)
	require.EqualError(t, err, p+": every user may write it (mode 0666), so anyone could change the policy; run: chmod go-w "+p)
	p = writeFile(t, "", 0o602)
	_, err = Load(p)
	require.ErrorContains(t, err, "every user may write it (mode 0602)")

	// Group-writable: the group's members could change the policy.
	p = writeFile(t, "", 0o664)
	_, err = Load(p)
	require.ErrorContains(t, err, p+": the members of its group (gid ")
	require.ErrorContains(t, err, "may write it (mode 0664), so any of them could change the policy; run: chmod g-w "+p)
	_, err = LoadOrDefault(writeFile(t, "", 0o620), false)
	require.ErrorContains(t, err, "(mode 0620)")

	// A FIFO is refused without blocking.
	fifo := filepath.Join(t.TempDir(), "fifo.toml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	_, err = Load(fifo)
	require.ErrorContains(t, err, "not a regular file but a FIFO")

	// Too large.
	big := writeFile(t, "# "+strings.Repeat("x", MaxFileSize)+"\n", 0o644)
	_, err = Load(big)
	require.ErrorContains(t, err, "larger than")

	// Owned by another user: only root can set that up.
	if os.Geteuid() == 0 {
		other := writeFile(t, "", 0o644)
		require.NoError(t, os.Chown(other, 12345, 12345))
		_, err = Load(other)
		require.EqualError(t, err, other+": owned by uid 12345, not root, so that user could change the policy; run: chown root: "+other)
	}

	// Unreadable: the error from the system, with the path.
	if os.Geteuid() != 0 {
		locked := writeFile(t, "", 0o000)
		_, err = Load(locked)
		require.True(t, errors.Is(err, fs.ErrPermission), err)
	}
}

// Parse never panics, and what it accepts passes Validate and reads back the
// same after encoding.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("../../packaging/totpd.toml")
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte("[policy]\nrequire = \"groups\"\ngroups = [\"a\"]\ngrace_period = \"1d12h\"\n"))
	f.Add([]byte("totp = { digits = 8 }\n[[lockout]]\n"))
	f.Add([]byte("[cluster]\nbackend = \"etcd\"\nendpoints = [\"https://[::1]:2379/\", \"https://e2:2379\"]\nprefix = \"/a/b/\"\n" +
		"cert_file = \"/c\"\nkey_file = \"/k\"\nusername = \"u\"\npassword_file = \"/p\"\ntimeout = \"1.5s\"\noffline = \"deny\"\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := Parse(in, "fuzz")
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "fuzz: "), err.Error())
			return
		}
		require.NoError(t, c.Validate())
		var buf bytes.Buffer
		require.NoError(t, toml.NewEncoder(&buf).Encode(c))
		back, err := Parse(buf.Bytes(), "encoded")
		require.NoError(t, err, buf.String())
		require.Equal(t, c, back)
	})
}

// TestExemptUsersAreLoginNames: exempt_users accepts no name that a login
// could not have (names.Check, the rule the daemon holds logins to), so
// an exemption can never be one that never matches. A group may still be
// "Domain Admins@x".
func TestExemptUsersAreLoginNames(t *testing.T) {
	for _, n := range []string{
		"alice", "breakglass", "user@example.com", `DOMAIN\bob`, "Ünïcødé", "a-", "adm1n$", strings.Repeat("a", 64),
		"Domain Admins@x", " alice", "alice ", "a:b", "a,b", "a/b", ".x", "-x", "", strings.Repeat("a", 65), "a\tb", "\u0085",
	} {
		_, err := Parse([]byte("[policy]\nexempt_users = ["+strconv.Quote(n)+"]\n"), name)
		if names.Check(n) != nil {
			require.Error(t, err, "exempt_users = [%q] is not a login name and must be refused", n)
			require.Contains(t, err.Error(), "[policy] exempt_users", "the message names the key")
			require.Contains(t, err.Error(), "is not a valid user name: ", "and says why")
			continue
		}
		require.NoError(t, err, "exempt_users = [%q] is a login name", n)
	}
	_, err := Parse([]byte("[policy]\nexempt_groups = [\"Domain Admins@x\"]\n"), name)
	require.NoError(t, err, "group names keep their own rule")
}
