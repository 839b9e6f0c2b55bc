package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cluster is a [cluster] table with the given lines.
func cluster(lines ...string) string {
	return "[cluster]\n" + strings.Join(lines, "\n") + "\n"
}

// [cluster] left out, empty, or with backend = "" alone is this host only,
// with the documented defaults.
func TestClusterDefaults(t *testing.T) {
	for _, in := range []string{"", "[cluster]\n", cluster(`backend = ""`)} {
		c, err := Parse([]byte(in), name)
		require.NoError(t, err, in)
		require.Equal(t, Default(), c, in)
		require.Equal(t, BackendLocal, c.Cluster.Backend)
		require.Empty(t, c.Cluster.Endpoints)
		require.Equal(t, "/totpd/", c.Cluster.Prefix)
		require.Equal(t, 2*time.Second, c.Cluster.Timeout.D())
		require.Equal(t, OfflineLocal, c.Cluster.Offline)
	}
}

// Values at the edges of what is allowed, and the forms TOML has.
func TestClusterValid(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, c Cluster)
	}{
		{"one endpoint, no TLS files", cluster(`backend = "etcd"`, `endpoints = ["https://etcd1:2379"]`),
			func(t *testing.T, c Cluster) {
				require.Equal(t, []string{"https://etcd1:2379"}, c.Endpoints)
				require.Empty(t, c.CAFile, "https without ca_file: the system's roots")
			}},
		{"all http", cluster(`backend = "etcd"`, `endpoints = ["http://127.0.0.1:2379", "http://127.0.0.1:22379", "http://[::1]:32379"]`),
			func(t *testing.T, c Cluster) { require.Len(t, c.Endpoints, 3) }},
		{"trailing slash", cluster(`endpoints = ["https://etcd1:2379/"]`),
			func(t *testing.T, c Cluster) { require.Equal(t, []string{"https://etcd1:2379/"}, c.Endpoints) }},
		{"16 endpoints", cluster(`endpoints = [` + endpoints(MaxEndpoints) + `]`),
			func(t *testing.T, c Cluster) { require.Len(t, c.Endpoints, MaxEndpoints) }},
		{"endpoints without backend", cluster(`endpoints = ["https://etcd1:2379"]`),
			func(t *testing.T, c Cluster) { require.Equal(t, BackendLocal, c.Backend, "kept, not used") }},
		{"ca_file alone", cluster(`endpoints = ["https://e:2379"]`, `ca_file = "/etc/ssl/etcd/"`),
			func(t *testing.T, c Cluster) { require.Equal(t, "/etc/ssl/etcd", c.CAFile, "cleaned") }},
		{"cert and key", cluster(`cert_file = "/etc/totpd/c.pem"`, `key_file = "/etc/totpd/./c.key"`),
			func(t *testing.T, c Cluster) {
				require.Equal(t, "/etc/totpd/c.pem", c.CertFile)
				require.Equal(t, "/etc/totpd/c.key", c.KeyFile)
			}},
		{"username alone: the credential", cluster(`username = "totpd"`),
			func(t *testing.T, c Cluster) { require.Empty(t, c.PasswordFile) }},
		{"username and password_file", cluster(`username = "host-1@fleet"`, `password_file = "/etc/totpd/etcd.pw"`),
			func(t *testing.T, c Cluster) { require.Equal(t, "/etc/totpd/etcd.pw", c.PasswordFile) }},
		{"username 64 bytes", cluster(`username = "` + strings.Repeat("u", MaxEtcdUsername) + `"`),
			func(t *testing.T, c Cluster) { require.Len(t, c.Username, MaxEtcdUsername) }},
		{"prefix nested", cluster(`prefix = "/sites/paris-1/totpd/"`),
			func(t *testing.T, c Cluster) { require.Equal(t, "/sites/paris-1/totpd/", c.Prefix) }},
		{"prefix 64 bytes", cluster(`prefix = "/` + strings.Repeat("p", MaxPrefix-2) + `/"`),
			func(t *testing.T, c Cluster) { require.Len(t, c.Prefix, MaxPrefix) }},
		{"timeout 100ms", cluster(`timeout = "100ms"`),
			func(t *testing.T, c Cluster) { require.Equal(t, 100*time.Millisecond, c.Timeout.D()) }},
		{"timeout 60s", cluster(`timeout = "60s"`),
			func(t *testing.T, c Cluster) { require.Equal(t, time.Minute, c.Timeout.D()) }},
		{"offline deny", cluster(`offline = "deny"`),
			func(t *testing.T, c Cluster) { require.Equal(t, OfflineDeny, c.Offline) }},
		{"inline table", `cluster = { backend = "etcd", endpoints = ["http://e:2379"] }`,
			func(t *testing.T, c Cluster) { require.Equal(t, BackendEtcd, c.Backend) }},
		{"dotted keys", "cluster.backend = \"etcd\"\ncluster.endpoints = [\"http://e:2379\"]\n",
			func(t *testing.T, c Cluster) { require.Equal(t, []string{"http://e:2379"}, c.Endpoints) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.in), name)
			require.NoError(t, err, tt.in)
			require.NoError(t, c.Validate())
			tt.check(t, c.Cluster)
		})
	}
}

// endpoints lists n distinct https endpoints, TOML-quoted.
func endpoints(n int) string {
	q := make([]string, n)
	for i := range q {
		q[i] = `"https://etcd` + string(rune('a'+i)) + `:2379"`
	}
	return strings.Join(q, ", ")
}

// Each bad value of [cluster] gives one error that names the key, the value
// and what is allowed.
func TestClusterErrors(t *testing.T) {
	const eg = `e.g. "https://etcd1:2379"`
	tests := []struct {
		name string
		in   string
		want string // the whole message after the file name
	}{
		// backend
		{"backend", cluster(`backend = "consul"`),
			`[cluster] backend = "consul": must be one of "", "etcd"`},
		{"backend case", cluster(`backend = "ETCD"`),
			`[cluster] backend = "ETCD": must be one of "", "etcd"`},
		{"backend boolean", cluster(`backend = true`),
			`[cluster] backend = true: must be a string in double quotes, not a boolean`},

		// endpoints
		{"endpoints string", cluster(`endpoints = "https://etcd1:2379"`),
			`[cluster] endpoints = "https://etcd1:2379": must be a list of strings such as ["a", "b"], not a string; write a single name as ["name"]`},
		{"endpoint no scheme", cluster(`endpoints = ["etcd1:2379"]`),
			`[cluster] endpoints = ["etcd1:2379"]: "etcd1:2379": must start with https:// or http://, in lower case, ` + eg},
		{"endpoint address no scheme", cluster(`endpoints = ["127.0.0.1:2379"]`),
			`[cluster] endpoints = ["127.0.0.1:2379"]: "127.0.0.1:2379": must start with https:// or http://, in lower case, ` + eg},
		{"endpoint upper case", cluster(`endpoints = ["HTTPS://etcd1:2379"]`),
			`[cluster] endpoints = ["HTTPS://etcd1:2379"]: "HTTPS://etcd1:2379": must start with https:// or http://, in lower case, ` + eg},
		{"endpoint other scheme", cluster(`endpoints = ["unix://etcd:2379"]`),
			`[cluster] endpoints = ["unix://etcd:2379"]: "unix://etcd:2379": must start with https:// or http://, in lower case, ` + eg},
		{"endpoint empty", cluster(`endpoints = [""]`),
			`[cluster] endpoints = [""]: "": must start with https:// or http://, in lower case, ` + eg},
		{"endpoint not a URL", cluster(`endpoints = ["https://etcd 1:2379"]`),
			`[cluster] endpoints = ["https://etcd 1:2379"]: "https://etcd 1:2379": is not a URL (invalid character " " in host name); write scheme://host:port, ` + eg},
		{"endpoint no host", cluster(`endpoints = ["https://:2379"]`),
			`[cluster] endpoints = ["https://:2379"]: "https://:2379": has no host; write scheme://host:port, ` + eg},
		{"endpoint no port", cluster(`endpoints = ["https://etcd1"]`),
			`[cluster] endpoints = ["https://etcd1"]: "https://etcd1": has no port; etcd's client port is usually 2379, ` + eg},
		{"endpoint empty port", cluster(`endpoints = ["https://etcd1:"]`),
			`[cluster] endpoints = ["https://etcd1:"]: "https://etcd1:": has no port; etcd's client port is usually 2379, ` + eg},
		{"endpoint port 0", cluster(`endpoints = ["https://etcd1:0"]`),
			`[cluster] endpoints = ["https://etcd1:0"]: "https://etcd1:0": has port 0; a port is 1 to 65535, ` + eg},
		{"endpoint port too large", cluster(`endpoints = ["https://etcd1:65536"]`),
			`[cluster] endpoints = ["https://etcd1:65536"]: "https://etcd1:65536": has port 65536; a port is 1 to 65535, ` + eg},
		{"endpoint path", cluster(`endpoints = ["https://etcd1:2379/v3"]`),
			`[cluster] endpoints = ["https://etcd1:2379/v3"]: "https://etcd1:2379/v3": must not have a path ("/v3"); write scheme://host:port, ` + eg},
		{"endpoint query", cluster(`endpoints = ["https://etcd1:2379?x=1"]`),
			`[cluster] endpoints = ["https://etcd1:2379?x=1"]: "https://etcd1:2379?x=1": must not have a query or fragment; write scheme://host:port, ` + eg},
		{"endpoint fragment", cluster(`endpoints = ["https://etcd1:2379#a"]`),
			`[cluster] endpoints = ["https://etcd1:2379#a"]: "https://etcd1:2379#a": must not have a query or fragment; write scheme://host:port, ` + eg},
		{"endpoint user info", cluster(`endpoints = ["https://root:secret@etcd1:2379"]`),
			`[cluster] endpoints = ["https://root:secret@etcd1:2379"]: "https://root:secret@etcd1:2379": must not hold a user name or password (the file is readable by every user); set [cluster] username, and the password in the credential totpd.etcd-password or in password_file`},
		{"endpoint twice", cluster(`endpoints = ["https://etcd1:2379", "https://ETCD1:2379/"]`),
			`[cluster] endpoints = ["https://etcd1:2379", "https://ETCD1:2379/"]: "https://ETCD1:2379/": the same endpoint as "https://etcd1:2379"; list each etcd member once`},
		{"endpoints mixed", cluster(`endpoints = ["https://etcd1:2379", "http://etcd2:2379"]`),
			`[cluster] endpoints = ["https://etcd1:2379", "http://etcd2:2379"]: mixes http:// and https:// endpoints; use https:// for every member (or http:// for every member, without TLS)`},
		{"endpoints too many", cluster(`endpoints = [` + endpoints(MaxEndpoints+1) + `]`),
			`: lists 17 endpoints; at most 16 are allowed (an etcd cluster has a handful of members)`},

		// prefix
		{"prefix empty", cluster(`prefix = ""`),
			`[cluster] prefix = "": must not be empty; write a key prefix, e.g. "/totpd/"`},
		{"prefix root", cluster(`prefix = "/"`),
			`[cluster] prefix = "/": must not be "/" alone, which is all of etcd's keys; e.g. "/totpd/"`},
		{"prefix no leading slash", cluster(`prefix = "totpd/"`),
			`[cluster] prefix = "totpd/": must start and end with "/", e.g. "/totpd/"`},
		{"prefix no trailing slash", cluster(`prefix = "/totpd"`),
			`[cluster] prefix = "/totpd": must start and end with "/", e.g. "/totpd/"`},
		{"prefix double slash", cluster(`prefix = "/a//b/"`),
			`[cluster] prefix = "/a//b/": must not contain "//"; e.g. "/totpd/"`},
		{"prefix space", cluster(`prefix = "/my fleet/"`),
			`[cluster] prefix = "/my fleet/": must be printable ASCII, without spaces`},
		{"prefix control", cluster(`prefix = "/a\tb/"`),
			`[cluster] prefix = "/a\tb/": must be printable ASCII, without spaces`},
		{"prefix non-ASCII", cluster(`prefix = "/flotte-é/"`),
			`[cluster] prefix = "/flotte-é/": must be printable ASCII, without spaces`},
		{"prefix too long", cluster(`prefix = "/` + strings.Repeat("p", MaxPrefix-1) + `/"`),
			`: is 65 bytes long; at most 64 are allowed`},

		// files
		{"ca_file relative", cluster(`ca_file = "ca.pem"`),
			`[cluster] ca_file = "ca.pem": must be an absolute path, starting with /`},
		{"cert_file root", cluster(`cert_file = "/"`, `key_file = "/k"`),
			`[cluster] cert_file = "/": must not be the root directory`},
		{"key_file relative", cluster(`cert_file = "/c"`, `key_file = "etcd/client.key"`),
			`[cluster] key_file = "etcd/client.key": must be an absolute path, starting with /`},
		{"password_file relative", cluster(`username = "u"`, `password_file = "./pw"`),
			`[cluster] password_file = "./pw": must be an absolute path, starting with /`},
		{"ca_file list", cluster(`ca_file = ["/a"]`),
			`[cluster] ca_file = ["/a"]: must be a string in double quotes, not a list`},

		// username
		{"username space", cluster(`username = "totpd host"`),
			`[cluster] username = "totpd host": must be an etcd user name: printable characters, no spaces`},
		{"username control", cluster(`username = "a\u0007"`),
			`[cluster] username = "a\a": must be an etcd user name: printable characters, no spaces`},
		{"username too long", cluster(`username = "` + strings.Repeat("u", MaxEtcdUsername+1) + `"`),
			`: is 65 bytes long; at most 64 are allowed`},

		// timeout
		{"timeout too short", cluster(`timeout = "99ms"`),
			`[cluster] timeout = "99ms": must be at least 100ms (allowed: 100ms to 1m)`},
		{"timeout zero", cluster(`timeout = "0s"`),
			`[cluster] timeout = "0s": must be at least 100ms (allowed: 100ms to 1m)`},
		{"timeout too long", cluster(`timeout = "61s"`),
			`[cluster] timeout = "61s": must be at most 1m (allowed: 100ms to 1m)`},
		{"timeout integer", cluster(`timeout = 2`),
			`[cluster] timeout = 2: must be a duration in double quotes such as "30s", "15m" or "7d", not an integer`},
		{"timeout negative", cluster(`timeout = "-2s"`),
			`[cluster] timeout = "-2s": must not be negative`},

		// offline
		{"offline", cluster(`offline = "allow"`),
			`[cluster] offline = "allow": must be one of "local", "deny"`},
		{"offline empty", cluster(`offline = ""`),
			`[cluster] offline = "": must be one of "local", "deny"`},

		// keys and the table
		{"unknown key", cluster(`endpoint = ["https://etcd1:2379"]`),
			`[cluster] endpoint: unknown key (did you mean endpoints?); the keys of [cluster] are backend, endpoints, prefix, ca_file, cert_file, key_file, username, password_file, timeout, offline`},
		{"password in the file", cluster(`password = "secret"`),
			`[cluster] password: unknown key; the keys of [cluster] are backend, endpoints, prefix, ca_file, cert_file, key_file, username, password_file, timeout, offline`},
		{"cluster key at top level", `backend = "etcd"`,
			`backend: unknown key; backend belongs in [cluster]`},
		{"cluster key in another table", "[lockout]\ntimeout = \"2s\"",
			`[lockout] timeout: unknown key; timeout belongs in [cluster]`},
		{"not a table", `cluster = "etcd"`,
			`[cluster] must be a table, written as a [cluster] header line followed by its keys, not a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), name)
			require.Error(t, err, tt.in)
			msg := err.Error()
			require.NotContains(t, msg, "\n", "one problem, one line")
			if strings.HasPrefix(tt.want, ":") {
				require.True(t, strings.HasPrefix(msg, name+": [cluster] "), msg)
				require.Contains(t, msg, tt.want)
			} else {
				require.Equal(t, name+": "+tt.want, msg)
			}
		})
	}
}

// The rules of [cluster] that involve several keys, from Parse and from
// Validate, each in the same words.
func TestClusterCrossKey(t *testing.T) {
	const https = `endpoints = ["https://etcd1:2379"]`
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"etcd without endpoints", []string{`backend = "etcd"`},
			`[cluster] backend = "etcd": [cluster] endpoints is empty; list the etcd client URLs, e.g. endpoints = ["https://etcd1:2379", "https://etcd2:2379", "https://etcd3:2379"], or use backend = "" for this host only`},
		{"etcd with an empty list", []string{`backend = "etcd"`, `endpoints = []`},
			`[cluster] backend = "etcd": [cluster] endpoints is empty; list the etcd client URLs`},
		{"cert without key", []string{https, `cert_file = "/etc/totpd/c.pem"`},
			`[cluster] cert_file = "/etc/totpd/c.pem": [cluster] key_file is empty; the client certificate needs its key: set both or neither`},
		{"key without cert", []string{https, `key_file = "/etc/totpd/c.key"`},
			`[cluster] key_file = "/etc/totpd/c.key": [cluster] cert_file is empty; the client key needs its certificate: set both or neither`},
		{"password_file without username", []string{`password_file = "/etc/totpd/pw"`},
			`[cluster] password_file = "/etc/totpd/pw": [cluster] username is empty; the password is that of the etcd user named by username: set username, or remove password_file`},
		{"ca_file with http", []string{`endpoints = ["http://etcd1:2379"]`, `ca_file = "/etc/totpd/ca.pem"`},
			`[cluster] endpoints = ["http://etcd1:2379"]: http:// does not use TLS, but [cluster] ca_file is set; write https:// endpoints, or remove ca_file`},
		{"client cert with http", []string{`endpoints = ["http://etcd1:2379"]`, `cert_file = "/c"`, `key_file = "/k"`},
			`[cluster] endpoints = ["http://etcd1:2379"]: http:// does not use TLS, but [cluster] cert_file, key_file are set; write https:// endpoints, or remove cert_file, key_file`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(cluster(tt.in...)), name)
			require.Error(t, err)
			require.NotContains(t, err.Error(), "\n", "one problem, one line")
			require.True(t, strings.HasPrefix(err.Error(), name+": "+tt.want), err.Error())
		})
	}

	// TLS files without endpoints, with https ones, or with none at all
	// and backend = "": nothing to refuse.
	for _, in := range []string{
		cluster(`ca_file = "/ca"`),
		cluster(https, `ca_file = "/ca"`, `cert_file = "/c"`, `key_file = "/k"`),
		cluster(`endpoints = ["http://e:2379"]`, `username = "u"`),
	} {
		_, err := Parse([]byte(in), name)
		require.NoError(t, err, in)
	}

	// Validate, for a Config built in code: every problem, one a line.
	c := Default()
	c.Cluster.Backend = BackendEtcd
	c.Cluster.CertFile = "/c"
	c.Cluster.PasswordFile = "/pw"
	c.Cluster.Timeout = 0
	require.EqualError(t, c.Validate(), strings.Join([]string{
		`[cluster] backend = "etcd": [cluster] endpoints is empty; list the etcd client URLs, e.g. endpoints = ["https://etcd1:2379", "https://etcd2:2379", "https://etcd3:2379"], or use backend = "" for this host only`,
		`[cluster] cert_file = "/c": [cluster] key_file is empty; the client certificate needs its key: set both or neither`,
		`[cluster] password_file = "/pw": [cluster] username is empty; the password is that of the etcd user named by username: set username, or remove password_file`,
		`[cluster] timeout = "0s": must be at least 100ms (allowed: 100ms to 1m)`,
	}, "\n"))

	// Validate wants the clean paths Parse stores.
	c = Default()
	c.Cluster.CAFile = "/etc/totpd//ca.pem"
	require.EqualError(t, c.Validate(), `[cluster] ca_file = "/etc/totpd//ca.pem": must be a clean path; write "/etc/totpd/ca.pem"`)
}

// The checks of several keys wait for every single key to pass, as the
// other ones do: a bad endpoint is not also reported as "no endpoints".
func TestClusterCrossKeyAfterSingleKeys(t *testing.T) {
	_, err := Parse([]byte(cluster(`backend = "etcd"`, `endpoints = ["etcd1"]`, `timeout = "1h"`)), name)
	require.Error(t, err)
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, 2, err.Error())
	require.True(t, strings.HasPrefix(lines[0], name+`: [cluster] endpoints = ["etcd1"]: "etcd1": must start with https:// or http://`), lines[0])
	require.Equal(t, name+`: [cluster] timeout = "1h": must be at most 1m (allowed: 100ms to 1m)`, lines[1])
}
