package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/cli/doctor"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/e2e/testutils"
)

// stageDoctor writes a PAM directory (Debian 12's shared files plus
// services) and an sshd_config, and fixes the host probes doctor uses.
func stageDoctor(t *testing.T, services map[string]string, sshdConfig string) (pamDir, sshdFile string) {
	t.Helper()
	saved := doctorHost
	t.Cleanup(func() { doctorHost = saved })
	doctorHost.moduleDirs = nil
	doctorHost.clock = func() (bool, error) { return true, nil }
	doctorHost.sshdT = func(context.Context) (*doctor.SSHDConfig, error) {
		t.Error("sshd -T run although --sshd-config was given")
		return nil, nil
	}
	pamDir = t.TempDir()
	for _, f := range []string{"common-auth", "common-account", "common-session", "common-session-noninteractive", "common-password", "other"} {
		b, err := os.ReadFile(filepath.Join("doctor", "testdata", "debian", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(pamDir, f), b, 0o644))
	}
	for name, text := range services {
		require.NoError(t, os.WriteFile(filepath.Join(pamDir, name), []byte(text), 0o644))
	}
	sshdFile = filepath.Join(t.TempDir(), "sshd_config")
	require.NoError(t, os.WriteFile(sshdFile, []byte(sshdConfig), 0o644))
	return pamDir, sshdFile
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	return string(b)
}

type doctorJSON struct {
	OK       bool `json:"ok"`
	Holes    int  `json:"holes"`
	Warnings int  `json:"warnings"`
	Services []struct {
		Service           string            `json:"service"`
		File              string            `json:"file"`
		UsesTotpd         bool              `json:"uses_totpd"`
		WithoutCode       bool              `json:"without_code"`
		AskedAfterFailure bool              `json:"asked_after_failure"`
		Findings          []json.RawMessage `json:"findings"`
	} `json:"services"`
	System []struct {
		Severity string `json:"severity"`
		Check    string `json:"check"`
		Message  string `json:"message"`
	} `json:"system"`
}

func TestDoctorStaged(t *testing.T) {
	status := fixed(wire.Response{Status: &wire.Status{User: "root", ServerTime: testNow}})
	keyDropIn := readFile(t, "../contrib/sshd_config.d/totpd-key-and-code.conf")
	sound := map[string]string{
		"sshd":  readFile(t, "../contrib/pam.d/sshd-key-and-code"),
		"login": readFile(t, "../contrib/pam.d/login"),
		"su":    readFile(t, "../contrib/pam.d/su"),
		"sudo":  readFile(t, "../contrib/pam.d/sudo"),
		// Found because its stack uses pam_totpd.so; common-auth is
		// included by others, so it is not checked as a service.
		"totpd-test-vpn": "@include common-auth\nauth required pam_totpd.so forward_pass\n",
	}
	dir, sshd := stageDoctor(t, sound, keyDropIn)

	r := runFake(t, status, "", "doctor", "--json", "--pam-dir", dir, "--sshd-config", sshd)
	require.Equal(t, exitOK, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
	var got doctorJSON
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
	require.True(t, got.OK)
	require.Zero(t, got.Holes)
	var names []string
	for _, s := range got.Services {
		names = append(names, s.Service)
		require.True(t, s.UsesTotpd, s.Service)
		require.False(t, s.WithoutCode || s.AskedAfterFailure, s.Service)
		require.Equal(t, filepath.Join(dir, s.Service), s.File)
	}
	require.Equal(t, []string{"sshd", "login", "su", "sudo", "totpd-test-vpn"}, names)
	require.Len(t, got.System, 2)
	require.Equal(t, "daemon", got.System[0].Check)
	require.Equal(t, "ok", got.System[0].Severity)

	// The text form says the same for people.
	r = runFake(t, status, "", "doctor", "--pam-dir", dir, "--sshd-config", sshd, "sshd")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "sshd ("+filepath.Join(dir, "sshd")+")\n  ok ")
	require.Contains(t, r.stdout, "0 holes")

	// google-authenticator-libpam #187 and sshd's password method: exit 1,
	// each hole with its file and line.
	bad := map[string]string{
		"sshd":            "@include common-auth-187\nauth required pam_totpd.so\n",
		"common-auth-187": "auth sufficient pam_unix.so nullok\nauth requisite pam_deny.so\n",
	}
	dir, sshd = stageDoctor(t, bad, "UsePAM yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive\n")
	r = runFake(t, status, "", "doctor", "--json", "--pam-dir", dir, "--sshd-config", sshd, "sshd")
	require.Equal(t, exitFailed, r.code, r.stdout)
	got = doctorJSON{}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &got), r.stdout)
	require.False(t, got.OK)
	require.Equal(t, 1, got.Holes)
	require.True(t, got.Services[0].WithoutCode)
	var f doctor.Finding
	require.NoError(t, json.Unmarshal(got.Services[0].Findings[0], &f))
	require.Equal(t, doctor.Hole, f.Severity)
	require.Equal(t, "without-code", f.Check)
	require.Equal(t, filepath.Join(dir, "common-auth-187"), f.File)
	require.Equal(t, 1, f.Line)
	require.NotEmpty(t, f.Path)

	r = runFake(t, status, "", "doctor", "--pam-dir", dir, "--sshd-config", sshd, "sshd")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stdout, "  HOLE     an enrolled user can get in without the code: pam_unix.so")
	require.Contains(t, r.stdout, "path: pam_unix.so success→done")
	require.Empty(t, r.stderr)
}

func TestDoctorExitCodes(t *testing.T) {
	dir, sshd := stageDoctor(t, map[string]string{"sshd": readFile(t, "../contrib/pam.d/sshd-key-and-code")},
		readFile(t, "../contrib/sshd_config.d/totpd-key-and-code.conf"))
	missing := filepath.Join(t.TempDir(), "no-such.sock")
	for _, c := range []struct {
		name   string
		args   []string
		want   int
		stderr string
	}{
		{"daemon down is a warning", []string{"--socket", missing, "doctor", "--pam-dir", dir, "--sshd-config", sshd}, exitOK, ""},
		{"a named service without the module", []string{"--socket", missing, "doctor", "--pam-dir", dir, "--sshd-config", sshd, "other"}, exitFailed, ""},
		{"no such pam dir", []string{"doctor", "--pam-dir", filepath.Join(dir, "nope")}, exitUsage, "--pam-dir"},
		{"no such sshd config", []string{"doctor", "--pam-dir", dir, "--sshd-config", filepath.Join(dir, "nope")}, exitUsage, "--sshd-config"},
		{"a path as service", []string{"doctor", "--pam-dir", dir, "../etc/shadow"}, exitUsage, "not a PAM service name"},
		{"unknown flag", []string{"doctor", "--frob"}, exitUsage, "unknown option --frob"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runFake(t, nil, "", c.args...)
			require.Equal(t, c.want, r.code, "stdout: %s\nstderr: %s", r.stdout, r.stderr)
			if c.stderr != "" {
				require.Contains(t, r.stderr, c.stderr)
			}
			if c.want == exitOK {
				require.True(t, strings.Contains(r.stdout, "warning  totpd is not answering on "+missing), r.stdout)
			}
		})
	}
}

// TestRunSSHDT reads the host's own sshd -T, as doctor does without
// --sshd-config.
func TestRunSSHDT(t *testing.T) {
	testutils.RequireRoot(t, "sshd -T reads the host keys")
	testutils.RequireTools(t, "openssh-server", "sshd")
	c, err := runSSHDT(context.Background())
	require.NoError(t, err)
	require.NotNil(t, c)
	require.Equal(t, "sshd -T", c.Source)
	for _, k := range []string{"usepam", "passwordauthentication", "kbdinteractiveauthentication", "authenticationmethods", "pubkeyauthentication"} {
		require.Contains(t, c.Values, k)
		require.NotEmpty(t, c.Values[k].Value, k)
	}
}
