package doctor

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// stage writes files into a new PAM directory. A value "file:path" copies
// a file of testdata/ or of the repository (contrib/...); "rhel-sshd:TEXT"
// is RHEL 9's sshd with TEXT in place of its auth substack line.
func stage(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if f, ok := strings.CutPrefix(text, "file:"); ok {
			b, err := os.ReadFile(filepath.FromSlash(f))
			require.NoError(t, err)
			text = string(b)
		}
		if auth, ok := strings.CutPrefix(text, "rhel-sshd:"); ok {
			text = rhelSSHD(t, auth)
		}
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
	return dir
}

// debian is Debian 12's shared files, as shipped (copied from a Debian 12 host).
func debian(files map[string]string) map[string]string {
	out := map[string]string{}
	for _, f := range []string{"common-auth", "common-account", "common-session", "common-session-noninteractive", "common-password", "other"} {
		out[f] = "file:testdata/debian/" + f
	}
	for k, v := range files {
		out[k] = v
	}
	return out
}

// sshdConfig stages Debian 12's sshd_config with drop-in as its only
// file in sshd_config.d (dropIn "" for none) and reads it as sshd does.
func sshdConfig(t *testing.T, dropIn string) *SSHDConfig {
	t.Helper()
	dir := t.TempDir()
	main, err := os.ReadFile("testdata/debian/sshd_config")
	require.NoError(t, err)
	text := strings.Replace(string(main), "/etc/ssh/sshd_config.d/", filepath.Join(dir, "sshd_config.d")+"/", 1)
	require.NotEqual(t, string(main), text, "Debian's sshd_config includes sshd_config.d")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "sshd_config.d"), 0o755))
	if dropIn != "" {
		if f, ok := strings.CutPrefix(dropIn, "file:"); ok {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			dropIn = string(b)
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, "sshd_config.d", "totpd.conf"), []byte(dropIn), 0o644))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(text), 0o644))
	c, err := ReadSSHDConfig(filepath.Join(dir, "sshd_config"))
	require.NoError(t, err)
	return c
}

func checks(fs []Finding, sev Severity) []string {
	var out []string
	for _, f := range fs {
		if f.Severity == sev {
			out = append(out, f.Check)
		}
	}
	sort.Strings(out)
	return out
}

const (
	keyAndCode      = "file:../../contrib/pam.d/sshd-key-and-code"
	passwordAndCode = "file:../../contrib/pam.d/sshd-password-and-code"
	keyDropIn       = "file:../../contrib/sshd_config.d/totpd-key-and-code.conf"
	passwordDropIn  = "file:../../contrib/sshd_config.d/totpd-password-and-code.conf"
	rhelBlock       = "auth       [success=1 default=bad]  pam_unix.so try_first_pass nullok\nauth       requisite                pam_deny.so\nauth       required                 pam_totpd.so\n"
)

func rhelSSHD(t *testing.T, auth string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/rhel/sshd")
	require.NoError(t, err)
	out := strings.Replace(string(b), "auth       substack     password-auth\n", auth, 1)
	require.NotEqual(t, string(b), out)
	return out
}

// TestStacks is the table of stacks, from real reports and from what
// totpd ships and README recommends, each with the holes expected (by
// check name) and words the first hole's message must contain.
func TestStacks(t *testing.T) {
	type tc struct {
		name    string
		files   map[string]string
		service string
		sshd    string // drop-in for Debian's sshd_config; "" no sshd check, "-" Debian's as is
		holes   []string
		warns   []string // each must be among the warnings
		msg     []string
	}
	cases := []tc{
		{
			name: "google-authenticator-libpam #187: sufficient pam_unix.so in an included common-auth",
			files: map[string]string{
				"sshd":        "@include common-auth\nauth required pam_totpd.so\n",
				"common-auth": "auth sufficient pam_unix.so nullok\nauth requisite pam_deny.so\n",
			},
			service: "sshd", holes: []string{"without-code"},
			msg: []string{"pam_unix.so", "common-auth:1 (from ", "sshd:1)", "ends the stack with success", "pam_totpd.so"},
		},
		{
			name:    "auth optional pam_totpd.so",
			files:   debian(map[string]string{"login": "@include common-auth\nauth optional pam_totpd.so\n"}),
			service: "login", holes: []string{"without-code"},
			msg: []string{"does not stop a wrong code", `control "optional"`},
		},
		{
			name:    "auth sufficient pam_permit.so first",
			files:   debian(map[string]string{"su": "auth sufficient pam_permit.so\n@include common-auth\nauth required pam_totpd.so\n"}),
			service: "su", holes: []string{"without-code"},
			msg: []string{"pam_permit.so", "su:1", "ends the stack with success"},
		},
		{
			name: "[success=2 default=ignore] jumps over it",
			files: map[string]string{"sudo": "auth [success=2 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\n" +
				"auth required pam_totpd.so\nauth required pam_permit.so\n"},
			service: "sudo", holes: []string{"without-code"},
			msg: []string{"pam_unix.so", "jumps over it", "sudo:3"},
		},
		{
			name: "pam_totpd.so in a substack whose success does not end the parent",
			files: map[string]string{
				"sshd":      "auth substack totp-code\nauth required pam_permit.so\n",
				"totp-code": "auth sufficient pam_totpd.so\n",
			},
			service: "sshd", holes: []string{"without-code"},
			msg: []string{"does not stop a wrong code", "totp-code:1 (from ", `"sufficient"`},
		},
		{
			name: "the shipped code line in a substack: die ends only the substack, the failure stays",
			files: map[string]string{
				"sshd":      "auth substack totp-code\nauth required pam_permit.so\n",
				"totp-code": "auth [success=done ignore=ignore default=die] pam_totpd.so\n",
			},
			service: "sshd",
		},
		{
			name:    "reset after a wrong code forgets it",
			files:   map[string]string{"sshd": "auth [success=ok default=bad] pam_totpd.so\nauth [default=reset] pam_permit.so\nauth required pam_permit.so\n"},
			service: "sshd", holes: []string{"without-code"},
			msg: []string{"resets the stack's state", "sshd:2"},
		},
		{
			name:    "sshd PasswordAuthentication yes with a stack that checks no password",
			files:   debian(map[string]string{"sshd": keyAndCode}),
			service: "sshd", sshd: "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication yes\nAuthenticationMethods publickey,keyboard-interactive password\n",
			holes: []string{"sshd-password"},
			msg:   []string{"PasswordAuthentication yes", "checks no password", "any password"},
		},
		{
			// sshd -T prints the global settings only; a Match block can
			// let one network in with a key alone.
			name:    "a Match block that changes AuthenticationMethods",
			files:   debian(map[string]string{"sshd": keyAndCode}),
			service: "sshd", sshd: "UsePAM yes\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\nMatch Address 10.0.0.0/8\n    AuthenticationMethods publickey\n",
			holes: []string{"sshd-match"}, msg: []string{"Match Address 10.0.0.0/8", "authenticationmethods publickey", "counts it as a hole"},
		},
		{
			name:    "UsePAM no",
			files:   debian(map[string]string{"sshd": keyAndCode}),
			service: "sshd", sshd: "UsePAM no\nKbdInteractiveAuthentication yes\nPasswordAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n",
			holes: []string{"sshd-usepam"},
			msg:   []string{"UsePAM no", "never runs the PAM stack"},
		},
		{
			name:    "AuthenticationMethods left at any: a key alone gets in",
			files:   debian(map[string]string{"sshd": keyAndCode}),
			service: "sshd", sshd: "PasswordAuthentication no\nKbdInteractiveAuthentication yes\n",
			holes: []string{"sshd-methods", "sshd-methods"},
			msg:   []string{`"publickey"`, "without the code"},
		},
		{
			name:    "KbdInteractiveAuthentication no where AuthenticationMethods needs it",
			files:   debian(map[string]string{"sshd": keyAndCode}),
			service: "sshd", sshd: "PasswordAuthentication no\nAuthenticationMethods publickey,keyboard-interactive\n",
			warns: []string{"sshd-kbdint", "sshd-methods"},
		},
		{
			name: "RHEL: auth substack password-auth, then auth required pam_totpd.so",
			files: map[string]string{
				"sshd":          "rhel-sshd:auth       substack     password-auth\nauth       required     pam_totpd.so\n",
				"password-auth": "file:testdata/rhel/password-auth", "postlogin": "file:testdata/rhel/postlogin",
			},
			service: "sshd", holes: []string{"asked-after-failure"},
			msg: []string{"is asked after pam_deny.so (", "password-auth:11", "use up that user's tries", "enroll_at_login"},
		},
		{
			name:    "pam_rootok.so in sshd: sshd runs as root, so it lets everyone in",
			files:   debian(map[string]string{"sshd": "auth sufficient pam_rootok.so\n@include common-auth\nauth required pam_totpd.so\n"}),
			service: "sshd", holes: []string{"without-code"},
			msg: []string{"pam_rootok.so"},
		},
		{
			name:    "a service without pam_totpd.so, named on the command line",
			files:   debian(map[string]string{"sudo": "file:testdata/debian/sudo"}),
			service: "sudo", holes: []string{"no-module"},
		},
		{
			name:    "a missing include fails its line: no way in, and the code is asked in vain",
			files:   map[string]string{"sudo": "auth include nowhere\nauth required pam_totpd.so\n"},
			service: "sudo", holes: []string{"asked-after-failure"}, warns: []string{"line", "never-succeeds"},
		},
		{
			name:    "a missing @include stops libpam from loading the service",
			files:   map[string]string{"sudo": "@include nowhere\nauth required pam_totpd.so\n"},
			service: "sudo", warns: []string{"never-succeeds"},
		},
		{
			name:    "the daemon down must not let anyone in (authinfo_unavail=ignore)",
			files:   map[string]string{"sshd": "auth requisite pam_unix.so\nauth [success=ok auth_err=die conv_err=die default=ignore] pam_totpd.so\nauth required pam_permit.so\n"},
			service: "sshd", warns: []string{"fail-open"},
		},
		{
			// Ctrl-D at the prompt gives PAM_CONV_ERR, which default=ignore lets through.
			name:    "a closed prompt must not let anyone in (conv_err falls to default=ignore)",
			files:   map[string]string{"sshd": "auth requisite pam_unix.so\nauth [success=ok auth_err=die default=ignore] pam_totpd.so\nauth required pam_permit.so\n"},
			service: "sshd", holes: []string{"without-code"}, msg: []string{"closed prompt"},
		},
		{
			// In su the module's child keeps the caller's real uid: the caller can kill it.
			name:    "su: a killed child must not let anyone in (authinfo_unavail=ignore)",
			files:   map[string]string{"su": "auth requisite pam_unix.so\nauth [success=ok auth_err=die conv_err=die default=ignore] pam_totpd.so\nauth required pam_permit.so\n"},
			service: "su", holes: []string{"without-code"}, msg: []string{"killed"},
		},
	}
	// Sound: the shipped files and every stack README recommends.
	sound := []tc{
		{name: "contrib sshd-key-and-code with its drop-in", files: debian(map[string]string{"sshd": keyAndCode}), service: "sshd", sshd: keyDropIn},
		{name: "contrib sshd-password-and-code with its drop-in", files: debian(map[string]string{"sshd": passwordAndCode}), service: "sshd", sshd: passwordDropIn},
		{name: "Debian sshd + pam-auth-update profile + password drop-in", files: debian(map[string]string{"sshd": "file:testdata/debian/sshd", "common-auth": "file:testdata/debian/common-auth-with-totpd"}), service: "sshd", sshd: passwordDropIn},
		{name: "contrib login", files: debian(map[string]string{"login": "file:../../contrib/pam.d/login"}), service: "login"},
		{name: "contrib su (pam_rootok: root only)", files: debian(map[string]string{"su": "file:../../contrib/pam.d/su"}), service: "su"},
		{name: "contrib sudo", files: debian(map[string]string{"sudo": "file:../../contrib/pam.d/sudo"}), service: "sudo"},
		{name: "Debian login + pam-auth-update profile", files: debian(map[string]string{"login": "file:testdata/debian/login", "common-auth": "file:testdata/debian/common-auth-with-totpd"}), service: "login"},
		{name: "Debian su + pam-auth-update profile", files: debian(map[string]string{"su": "file:testdata/debian/su", "common-auth": "file:testdata/debian/common-auth-with-totpd"}), service: "su"},
		{name: "Debian sudo + pam-auth-update profile", files: debian(map[string]string{"sudo": "file:testdata/debian/sudo", "common-auth": "file:testdata/debian/common-auth-with-totpd"}), service: "sudo"},
		{name: "README's key-and-code block", files: map[string]string{"sshd": "auth [success=done ignore=ignore default=die] pam_totpd.so\nauth required pam_permit.so\n"}, service: "sshd", sshd: keyDropIn},
	}
	for _, c := range sound {
		cases = append(cases, c)
	}
	cases = append(cases, tc{name: "README's RHEL block", service: "sshd", sshd: "file:../../contrib/sshd_config.d/totpd-password-and-code.conf",
		files: map[string]string{"sshd": "rhel-sshd:" + rhelBlock, "password-auth": "file:testdata/rhel/password-auth", "postlogin": "file:testdata/rhel/postlogin"}})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runCase(t, stage(t, c.files), c.service, c.sshd, c.holes, c.warns, c.msg)
		})
	}
	t.Run("README's unsafe RHEL variant: pam_totpd.so inside password-auth", func(t *testing.T) {
		b, err := os.ReadFile("testdata/rhel/password-auth")
		require.NoError(t, err)
		pa := strings.Replace(string(b), "auth        required                                     pam_deny.so\n",
			"auth        required                                     pam_deny.so\nauth        required                                     pam_totpd.so\n", 1)
		dir := stage(t, map[string]string{"sshd": "file:testdata/rhel/sshd", "password-auth": pa, "postlogin": "file:testdata/rhel/postlogin"})
		// Both holes: a right password ends the substack before the code,
		// and a wrong one reaches pam_deny.so and then the code.
		runCase(t, dir, "sshd", "", []string{"asked-after-failure", "without-code"}, nil, []string{"pam_unix.so", "ends its substack"})
	})
}

func runCase(t *testing.T, dir, service, sshd string, holes, warns, msg []string) {
	t.Helper()
	o := Options{PAMDirs: []string{dir}, Services: []string{service}}
	if sshd != "" {
		if sshd == "-" {
			sshd = ""
		}
		o.SSHD = sshdConfig(t, sshd)
	}
	r := Check(o)
	require.Len(t, r.Services, 1)
	fs := r.Services[0].Findings
	got := checks(fs, Hole)
	want := append([]string(nil), holes...)
	sort.Strings(want)
	require.Equal(t, want, got, "holes: %+v", fs)
	require.Equal(t, len(holes) == 0, r.OK)
	for _, w := range warns {
		require.Contains(t, checks(fs, Warning), w, "%+v", fs)
	}
	if len(holes) > 0 {
		var first Finding
		for _, f := range fs {
			if f.Severity == Hole {
				first = f
				break
			}
		}
		t.Logf("%s: %s", first.Check, first.Message)
		for _, m := range msg {
			require.Contains(t, first.Message, m)
		}
		require.NotEmpty(t, first.File)
	} else if !contains(warns, "never-succeeds") {
		require.Contains(t, checks(fs, Info), "sound", "%+v", fs)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
