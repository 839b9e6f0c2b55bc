// Package config reads and checks the totpd daemon's configuration file,
// /etc/totpd/totpd.toml.
//
// The file is TOML and strict: a key that totpd does not know, a value of the
// wrong type and a value out of range are all errors, and every error names
// the file, the key and what is allowed, one problem a line, e.g.
//
//	/etc/totpd/totpd.toml: [lockout] max_failures = 0: must be at least 1 (allowed: 1 to 1000)
//
// Unknown keys get a hint: a misspelling ("did you mean digits?") or a key in
// the wrong table, such as a top-level key written after a [table] header.
//
// Keys that the file leaves out keep their defaults (see Default), so an
// empty file is a valid configuration.
//
// Missing files: Load and Parse never invent a configuration; Load of a file
// that does not exist is an error for which errors.Is(err, fs.ErrNotExist)
// holds. LoadOrDefault(path, false) returns Default() instead, which is what
// the daemon does at start for the default path /etc/totpd/totpd.toml; a path
// given with --config, and any path at a reload, is loaded with mustExist set,
// so that a file moved away never brings back the defaults.
//
// Load also refuses a file that its group or any user may write or that is
// owned by a user other than root or the caller, because whoever can write
// the file decides who needs a second factor.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// DefaultPath is where the daemon reads its configuration when no --config
// is given.
const DefaultPath = "/etc/totpd/totpd.toml"

// MaxFileSize is the largest configuration file Load reads, in bytes.
const MaxFileSize = 1 << 20

// Values of TOTP.Algorithm.
const (
	// AlgorithmSHA1 is HMAC-SHA1, the default and the one every app supports.
	AlgorithmSHA1 = "SHA1"
	// AlgorithmSHA256 is HMAC-SHA256.
	AlgorithmSHA256 = "SHA256"
	// AlgorithmSHA512 is HMAC-SHA512.
	AlgorithmSHA512 = "SHA512"
)

// Values of Policy.Require.
const (
	// RequireNone requires no one by policy; per-user overrides
	// ("totpctl user require NAME") still apply.
	RequireNone = "none"
	// RequireAll requires every user who is not exempt.
	RequireAll = "all"
	// RequireGroups requires the members of Policy.Groups who are not exempt.
	RequireGroups = "groups"
)

// Limits on the values of the configuration file, inclusive.
const (
	// MinPeriod is the shortest [totp] period.
	MinPeriod = time.Second
	// MaxPeriod is the longest [totp] period.
	MaxPeriod = 300 * time.Second
	// MaxWindow is the largest [totp] window: the bound of the code
	// check itself.
	MaxWindow = totp.MaxWindow
	// MaxMaxFailures is the largest [lockout] max_failures.
	MaxMaxFailures = 1000
	// MaxRecoveryCodes is the largest [recovery] codes.
	MaxRecoveryCodes = 100
	// MaxSocketPath is the longest socket path a Unix socket address holds
	// (108 bytes of sun_path with the terminating NUL).
	MaxSocketPath = 107
)

// Config is the daemon's configuration, with the keys and tables of
// totpd.toml. A Config from Default, Load, LoadOrDefault or Parse has passed
// Validate.
type Config struct {
	// Socket is the Unix socket path the daemon binds when it is not
	// started by systemd socket activation.
	Socket string `toml:"socket"`
	// StateDir is the directory of the per-user state files (0700, root).
	StateDir string `toml:"state_dir"`
	// MasterKeyFile holds the key that encrypts secrets at rest when no
	// systemd credential "totpd.key" is given; created 0600 on first start.
	MasterKeyFile string `toml:"master_key_file"`
	// AdminGroup is the group whose members may run admin commands besides
	// root. Empty means root only.
	AdminGroup string `toml:"admin_group"`
	// Issuer is the name authenticator apps show next to the account; empty
	// means the host name (see EffectiveIssuer).
	Issuer string `toml:"issuer"`
	// MetricsFile, when set, is rewritten every 15 s with the metrics in
	// the Prometheus text format, for node_exporter's textfile collector;
	// empty means no file.
	MetricsFile string `toml:"metrics_file"`

	// TOTP is the [totp] table.
	TOTP TOTP `toml:"totp"`
	// Lockout is the [lockout] table.
	Lockout Lockout `toml:"lockout"`
	// Policy is the [policy] table.
	Policy Policy `toml:"policy"`
	// Enroll is the [enroll] table.
	Enroll Enroll `toml:"enroll"`
	// Recovery is the [recovery] table.
	Recovery Recovery `toml:"recovery"`
	// Cluster is the [cluster] table: fleet mode (daemon/cluster).
	Cluster Cluster `toml:"cluster"`
}

// TOTP is the [totp] table: the parameters of newly enrolled secrets and of
// code checks.
type TOTP struct {
	// Algorithm is the HMAC hash: AlgorithmSHA1, AlgorithmSHA256 or
	// AlgorithmSHA512.
	Algorithm string `toml:"algorithm"`
	// Digits is the code length, 6 or 8.
	Digits int `toml:"digits"`
	// Period is the time step, whole seconds from MinPeriod to MaxPeriod.
	Period Duration `toml:"period"`
	// Window is how many steps either side of now are accepted, 0 to
	// MaxWindow.
	Window int `toml:"window"`
}

// Lockout is the [lockout] table.
type Lockout struct {
	// MaxFailures is the number of consecutive failures that locks a user,
	// 1 to MaxMaxFailures.
	MaxFailures int `toml:"max_failures"`
	// Duration is how long a lock lasts; 0 means until an admin unlocks.
	Duration Duration `toml:"duration"`
}

// Policy is the [policy] table: who must use a second factor.
type Policy struct {
	// Require is RequireNone, RequireAll or RequireGroups.
	Require string `toml:"require"`
	// Groups are the groups whose members are required when Require is
	// RequireGroups; it must not be empty then.
	Groups []string `toml:"groups"`
	// ExemptUsers are never required.
	ExemptUsers []string `toml:"exempt_users"`
	// ExemptGroups are groups whose members are never required.
	ExemptGroups []string `toml:"exempt_groups"`
	// GracePeriod is how long a newly required user may still log in
	// without being enrolled.
	GracePeriod Duration `toml:"grace_period"`
	// EnrollAtLogin lets a user past the deadline enroll inside the login
	// conversation instead of being refused.
	EnrollAtLogin bool `toml:"enroll_at_login"`
	// Remember is how long after an accepted code the same user logging
	// in again through the same service from the same remote host (and,
	// for sshd, with the same public key) is let in without a code
	// (daemon/engine/remember.go); 0 = never, at most MaxRemember.
	Remember Duration `toml:"remember"`
}

// Enroll is the [enroll] table.
type Enroll struct {
	// ConfirmCodes is how many consecutive codes finish an enrollment, 1 or 2.
	ConfirmCodes int `toml:"confirm_codes"`
}

// Recovery is the [recovery] table.
type Recovery struct {
	// Codes is how many single-use recovery codes an enrollment gets, 0 to
	// MaxRecoveryCodes; 0 disables recovery codes.
	Codes int `toml:"codes"`
}

// Values of Cluster.Backend and Cluster.Offline.
const (
	// BackendLocal ("") keeps the state on this host only, the default.
	BackendLocal = ""
	// BackendEtcd keeps it in an etcd cluster every host shares.
	BackendEtcd = "etcd"
	// OfflineLocal decides from the local copy when etcd cannot answer.
	OfflineLocal = "local"
	// OfflineDeny answers unavailable when etcd cannot answer.
	OfflineDeny = "deny"
)

// Cluster is the [cluster] table: fleet mode, where every host of a
// cluster keeps its users' state in one etcd cluster (PRODUCT.md §8,
// totpd.toml(5)). The zero Backend is this host only, and then the other
// keys are not used.
type Cluster struct {
	// Backend is BackendLocal or BackendEtcd.
	Backend string `toml:"backend"`
	// Endpoints are the etcd client URLs (scheme://host:port), all
	// http:// or all https://, in lower case, at most MaxEndpoints, none
	// twice; at least one when Backend is BackendEtcd. TLS files are
	// refused with http:// ones.
	Endpoints []string `toml:"endpoints"`
	// Prefix is the key prefix of this cluster's records; it starts and
	// ends with "/", is printable ASCII, has no "//", is not "/" alone
	// and is at most MaxPrefix bytes.
	Prefix string `toml:"prefix"`
	// CAFile, CertFile and KeyFile are the TLS CA bundle and the client
	// certificate and key; CertFile and KeyFile go together.
	CAFile   string `toml:"ca_file"`
	CertFile string `toml:"cert_file"`
	KeyFile  string `toml:"key_file"`
	// Username is the etcd RBAC user ("" = none: printable, no spaces, at
	// most MaxEtcdUsername bytes); its password is the credential
	// totpd.etcd-password, else the contents of PasswordFile, which is
	// set only with Username.
	Username     string `toml:"username"`
	PasswordFile string `toml:"password_file"`
	// Timeout bounds one etcd request, MinClusterTimeout to
	// MaxClusterTimeout; past it the host is offline.
	Timeout Duration `toml:"timeout"`
	// Offline is OfflineLocal or OfflineDeny.
	Offline string `toml:"offline"`
}

// Default returns the configuration of an empty file, the one
// packaging/totpd.toml spells out.
func Default() Config {
	return Config{
		Socket:        wire.DefaultSocket,
		StateDir:      "/var/lib/totpd",
		MasterKeyFile: "/etc/totpd/master.key",
		AdminGroup:    "totpd-admin",
		Issuer:        "",
		TOTP: TOTP{
			Algorithm: AlgorithmSHA1,
			Digits:    6,
			Period:    Duration(30 * time.Second),
			Window:    1,
		},
		Lockout: Lockout{
			MaxFailures: 5,
			Duration:    Duration(15 * time.Minute),
		},
		Policy: Policy{
			Require:     RequireNone,
			GracePeriod: Duration(7 * day),
		},
		Enroll:   Enroll{ConfirmCodes: 1},
		Recovery: Recovery{Codes: 10},
		Cluster:  Cluster{Prefix: "/totpd/", Timeout: Duration(2 * time.Second), Offline: OfflineLocal},
	}
}

// EffectiveIssuer returns Issuer, or the host name when Issuer is empty, or
// "totpd" when the host name is unknown.
func (c Config) EffectiveIssuer() string {
	if c.Issuer != "" {
		return c.Issuer
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "totpd"
}

// Load reads and checks the configuration file at path. A missing file is an
// error (errors.Is(err, fs.ErrNotExist)); so is a file that is not a regular
// file, is larger than MaxFileSize, is writable by its group or every user,
// or is owned by a user other than root and the caller.
func Load(path string) (Config, error) {
	data, err := readFile(path)
	if err != nil {
		return Config{}, err
	}
	return Parse(data, path)
}

// LoadOrDefault is Load, except that when mustExist is false a file that does
// not exist gives Default() and no error. Any other problem with the file,
// including a directory or an unreadable file, is still an error. The daemon
// uses mustExist = false only at start and only for DefaultPath, and true
// for a path given with --config and for every reload.
func LoadOrDefault(path string, mustExist bool) (Config, error) {
	c, err := Load(path)
	if err != nil && !mustExist && errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	return c, err
}

// readFile reads a configuration file with the checks documented on Load.
func readFile(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO planted at the path must not hang the daemon; it
	// has no effect on a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // *fs.PathError: names the path and the reason
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file but %s; put the configuration file itself there", path, fileKind(fi.Mode()))
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm()&0o002 != 0 {
		return nil, fmt.Errorf("%s: every user may write it (mode %04o), so anyone could change the policy; run: chmod go-w %s",
			path, fi.Mode().Perm(), path)
	}
	// A group other than root's may have members who are not
	// administrators; root's own group is refused too, because a
	// configuration file has no reason to be group-writable at all.
	if fi.Mode().Perm()&0o020 != 0 {
		gid := "?"
		if st != nil {
			gid = fmt.Sprint(st.Gid)
		}
		return nil, fmt.Errorf("%s: the members of its group (gid %s) may write it (mode %04o), so any of them could change the policy; run: chmod g-w %s",
			path, gid, fi.Mode().Perm(), path)
	}
	if st != nil && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("%s: owned by uid %d, not root, so that user could change the policy; run: chown root: %s",
			path, st.Uid, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes; this is not a totpd configuration file", path, MaxFileSize)
	}
	return data, nil
}

// fileKind reports what a file of mode m that is not a regular file is, for an error message.
func fileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return fmt.Sprintf("of type %s", m.Type())
}

// Parse checks the TOML text data as a configuration file and returns the
// configuration, starting from Default for the keys data leaves out. name is
// the file name used in error messages. The error, if any, lists every
// problem found, one a line, each starting with name.
func Parse(data []byte, name string) (Config, error) {
	if bytes.IndexByte(data, 0) >= 0 {
		return Config{}, fmt.Errorf("%s: contains a NUL byte; this is not a text file", name)
	}
	var tree map[string]any
	md, err := toml.Decode(string(data), &tree)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Config{}, fmt.Errorf("%s: line %d, column %d: %s (TOML syntax error)",
				name, pe.Position.Line, pe.Position.Col, pe.Message)
		}
		return Config{}, fmt.Errorf("%s: %w", name, err)
	}
	c := Default()
	var errs []error
	fail := func(e error) { errs = append(errs, fmt.Errorf("%s: %w", name, e)) }
	for _, e := range decodeTree(&c, tree, md.Keys()) {
		fail(e)
	}
	if len(errs) == 0 {
		// Every single key was checked while decoding; this adds the
		// checks that involve several keys.
		for _, e := range c.problems() {
			fail(e)
		}
	}
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// Validate checks c as Parse checks a file, for a Config built in code. The
// error, if any, lists every problem, one a line, without a file name. Where
// Parse is lenient about spelling (any case for [totp] algorithm and [policy]
// require, unclean absolute paths), Validate wants the canonical form that
// Parse stores: "SHA1", "groups", "/var/lib/totpd".
func (c Config) Validate() error {
	return errors.Join(c.problems()...)
}

// problems checks every key of c and then the rules that involve several keys.
func (c *Config) problems() []error {
	var errs []error
	for _, k := range schema {
		if err := k.validate(c); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Policy.Require == RequireGroups && len(c.Policy.Groups) == 0 {
		errs = append(errs, fmt.Errorf(`[policy] require = "groups": [policy] groups is empty; list the groups whose members must use a code, e.g. groups = ["staff"], or use require = "all"`))
	}
	if c.MetricsFile != "" && c.StateDir != "" && strings.HasPrefix(c.MetricsFile, strings.TrimSuffix(c.StateDir, "/")+"/") {
		// The state directory is 0700 (node_exporter could not read the
		// file) and holds only the store's own files.
		errs = append(errs, fmt.Errorf("metrics_file = %q: must not be inside state_dir %q; use the textfile collector's directory, e.g. \"/var/lib/prometheus/node-exporter/totpd.prom\"", c.MetricsFile, c.StateDir))
	}
	return errs
}
