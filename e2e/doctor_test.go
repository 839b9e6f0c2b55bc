package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDoctorHolesAreReal runs `totpctl doctor` on live /etc/pam.d
// services of its own and then the same stacks through pamtester with an
// enrolled user, a right password and a wrong code: what doctor calls a
// way in without the code lets the user in, what it calls sound refuses,
// and what it calls the code asked after a failure asks it after a wrong
// password and counts the failure.
func TestDoctorHolesAreReal(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester")
	d := startDaemon(t, b, config{MaxFailures: 5})
	alice := newUser(t)
	e := hostEnroll(t, d, alice)
	pw := hostPassword()
	hostSetPasswords(t, map[string]string{alice.Name: pw})
	wrong := hostWrongCode(t, e.Secret)
	totpd := module + " socket=" + d.Socket + " timeout=5"

	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	inc187 := hostFile(t, dir, "common-auth-187", "auth sufficient pam_unix.so nullok\nauth requisite pam_deny.so\n", 0o644)
	incDebian := hostFile(t, dir, "common-auth", "auth [success=1 default=ignore] pam_unix.so nullok\nauth requisite pam_deny.so\nauth required pam_permit.so\n", 0o644)
	sshd := hostFile(t, dir, "sshd_config", "UsePAM yes\n", 0o644)
	const limit = 30 * time.Second

	doctor := func(svc string) (int, map[string]any) {
		r := d.Ctl("doctor", "--json", "--sshd-config", sshd, svc)
		var out map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &out), "%s", r)
		return r.Code, out
	}
	checks := func(out map[string]any) []string {
		var cs []string
		for _, s := range out["services"].([]any) {
			for _, f := range s.(map[string]any)["findings"].([]any) {
				f := f.(map[string]any)
				if f["severity"] == "hole" {
					cs = append(cs, f["check"].(string)+" "+f["file"].(string))
				}
			}
		}
		return cs
	}

	// google-authenticator-libpam #187: the password alone gets in.
	svc := hostService(t, "doctor187", "auth include "+inc187+"\nauth required "+totpd+"\n")
	code, out := doctor(svc)
	require.Equal(t, 1, code)
	require.Equal(t, []string{"without-code " + inc187}, checks(out))
	r := hostPamtester(t, svc, alice.Name, pw+"\n"+wrong+"\n", limit)
	require.Equal(t, 0, r.Code, "the hole doctor reports is real: %s", r)
	require.NotContains(t, r.Out(), "Verification code")

	// Debian's common-auth: sound, and a wrong code is refused.
	svc = hostService(t, "doctorok", "auth include "+incDebian+"\nauth required "+totpd+"\n")
	code, out = doctor(svc)
	require.Equal(t, 0, code, "%v", out)
	require.Empty(t, checks(out))
	sys := out["system"].([]any)[0].(map[string]any)
	require.Equal(t, "daemon", sys["check"])
	require.Equal(t, "ok", sys["severity"], "the daemon answers: %v", sys)
	r = hostPamtester(t, svc, alice.Name, pw+"\n"+wrong+"\n", limit)
	require.NotEqual(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Out(), "Verification code")

	// The code asked after a wrong password: asked, and counted.
	svc = hostService(t, "doctorlate", "auth required pam_unix.so nullok\nauth required "+totpd+"\n")
	code, out = doctor(svc)
	require.Equal(t, 1, code)
	require.Equal(t, []string{"asked-after-failure /etc/pam.d/" + svc}, checks(out))
	before := d.Show(alice.Name).Failures
	r = hostPamtester(t, svc, alice.Name, "not-"+pw+"\n"+wrong+"\n", limit)
	require.NotEqual(t, 0, r.Code, "%s", r)
	require.Contains(t, r.Out(), "Verification code", "the code is asked after a wrong password")
	require.Equal(t, before+1, d.Show(alice.Name).Failures, "and the wrong code counts against alice")
	require.True(t, strings.HasPrefix(filepath.Base(module), "pam_totpd"))
}
