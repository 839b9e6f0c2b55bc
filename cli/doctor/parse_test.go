package doctor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/e2e/testutils"
)

func TestParseFile(t *testing.T) {
	text := "# comment\n" +
		"auth [success=1 default=ignore]\tpam_unix.so nullok # trailing\n" +
		"\n" +
		"-auth  optional pam_gone.so \\\n" +
		"   a=1 \\\n" +
		"   b=2\n" +
		"auth required pam_deny.so # a comment ends the line \\\n" +
		"auth [default=die value=\\]x] pam_x.so [arg with spaces]\n" +
		"@include common-auth\n"
	lines, err := ParseFile("svc", strings.NewReader(text))
	require.NoError(t, err)
	require.Len(t, lines, 5)
	require.Equal(t, Line{Pos: Pos{"svc", 2}, Type: "auth", Control: "success=1 default=ignore", Module: "pam_unix.so", Args: []string{"nullok"}, Text: "auth [success=1 default=ignore]\tpam_unix.so nullok"}, lines[0])
	require.Equal(t, 4, lines[1].Line)
	require.True(t, lines[1].Silent)
	require.Equal(t, []string{"a=1", "b=2"}, lines[1].Args)
	require.Equal(t, 7, lines[2].Line, "a comment ends a line even after a backslash")
	require.Equal(t, "default=die value=]x", lines[3].Control)
	require.Equal(t, []string{"arg with spaces"}, lines[3].Args)
	require.Equal(t, "@include", lines[4].Type)
	require.Equal(t, "common-auth", lines[4].Module)
}

func TestParseControl(t *testing.T) {
	a, kind, bad := parseControlWord("Required")
	require.Equal(t, ctlModule, kind)
	require.Empty(t, bad)
	require.Equal(t, actOK, a[retSuccess])
	require.Equal(t, actIgnore, a[retIgnore])
	require.Equal(t, actBad, a[retAuthErr])

	a, _, bad = parseControlWord("default=bad success=2 ignore=ignore")
	require.Empty(t, bad)
	require.Equal(t, 2, a[retSuccess])
	require.Equal(t, actBad, a[retAuthErr])

	// An explicit value wins over default wherever it is written.
	a, _, _ = parseControlWord("success=ok default=die")
	require.Equal(t, actOK, a[retSuccess])
	require.Equal(t, actDie, a[retUserUnknown])

	for _, tok := range []string{"success=0", "successful=ok", "success", "success=frob", ""} {
		a, _, bad = parseControlWord(tok)
		require.NotEmpty(t, bad, tok)
		require.Equal(t, actBad, a[retSuccess], "%q: libpam makes every value bad", tok)
	}
	_, kind, _ = parseControlWord("SUBSTACK")
	require.Equal(t, ctlSubstack, kind)
}

func TestReadSSHDConfig(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conf.d", "10-a.conf"), []byte("PasswordAuthentication no\nMatch User bob\n  PasswordAuthentication yes\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "conf.d", "20-b.conf"), []byte("passwordauthentication yes\nAuthenticationMethods=publickey,keyboard-interactive:pam\n"), 0o644))
	main := filepath.Join(dir, "sshd_config")
	require.NoError(t, os.WriteFile(main, []byte("Include conf.d/*.conf\nUsePAM yes\nChallengeResponseAuthentication no\nMatch Address 10.0.0.0/8\nUsePAM no\n"), 0o644))
	c, err := ReadSSHDConfig(main)
	require.NoError(t, err)
	require.Equal(t, "no", c.get("passwordauthentication").Value, "the first value wins; a Match in an included file ends with that file")
	require.Equal(t, Pos{filepath.Join(dir, "conf.d", "10-a.conf"), 1}, c.get("passwordauthentication").Pos)
	require.Equal(t, "publickey,keyboard-interactive:pam", c.get("authenticationmethods").Value)
	require.Equal(t, "yes", c.get("usepam").Value, "UsePAM no is inside a Match block")
	require.Equal(t, "no", c.get("kbdinteractiveauthentication").Value, "ChallengeResponseAuthentication is its old name")
	require.Len(t, c.Matches, 2)

	out, err := ParseSSHDT(strings.NewReader("usepam yes\npasswordauthentication no\nkbdinteractiveauthentication yes\nauthenticationmethods publickey,keyboard-interactive\n"))
	require.NoError(t, err)
	require.Equal(t, "publickey,keyboard-interactive", out.get("authenticationmethods").Value)
	require.Equal(t, "yes", out.get("pubkeyauthentication").Value, "the default")
}

// TestModuleFile stages pam_totpd.so and pam_totpd_go.so with the owners
// and modes an attacker could use, and a sound pair.
func TestModuleFile(t *testing.T) {
	testutils.RequireRoot(t, "chowns files to another user")
	for _, c := range []struct {
		name  string
		setup func(dir string) error
		hole  string
	}{
		{"sound", func(string) error { return nil }, ""},
		{"module not root-owned", func(d string) error { return os.Chown(filepath.Join(d, "pam_totpd.so"), 65534, 0) }, "owned by uid 65534"},
		{"module group-writable", func(d string) error { return os.Chmod(filepath.Join(d, "pam_totpd.so"), 0o664) }, "writable by group or others"},
		{"Go library world-writable", func(d string) error { return os.Chmod(filepath.Join(d, "pam_totpd_go.so"), 0o646) }, "pam_totpd_go.so is writable"},
		{"directory not root-owned", func(d string) error { return os.Chown(d, 65534, 0) }, "directory "},
	} {
		t.Run(c.name, func(t *testing.T) {
			mods := t.TempDir()
			for _, f := range []string{"pam_totpd.so", "pam_totpd_go.so"} {
				require.NoError(t, os.WriteFile(filepath.Join(mods, f), []byte("ELF"), 0o644))
			}
			require.NoError(t, c.setup(mods))
			pam := stage(t, map[string]string{"sudo": "auth requisite pam_unix.so\nauth required pam_totpd.so\n"})
			r := Check(Options{PAMDirs: []string{pam}, ModuleDirs: []string{mods}, Services: []string{"sudo"}})
			var holes []string
			for _, f := range r.Services[0].Findings {
				if f.Severity == Hole {
					holes = append(holes, f.Message)
					require.Equal(t, "module-file", f.Check)
					require.Equal(t, 2, f.Line)
				}
			}
			if c.hole == "" {
				require.Empty(t, holes)
				require.True(t, r.OK)
				return
			}
			require.NotEmpty(t, holes)
			for _, h := range holes {
				require.Contains(t, h, c.hole)
			}
			require.False(t, r.OK)
		})
	}
}
