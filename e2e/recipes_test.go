package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readmeRecipe reports the PAM block README.md shows after the marker
// `<!-- recipe: NAME…`: the test runs exactly what README tells admins.
func readmeRecipe(t *testing.T, name string) string {
	t.Helper()
	root, err := moduleRoot()
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	require.NoError(t, err)
	re := regexp.MustCompile("(?s)<!-- recipe: " + regexp.QuoteMeta(name) + "[;: ][^\n]*-->\n```\n(.*?)```")
	m := re.FindSubmatch(b)
	require.NotNil(t, m, "README.md has no recipe %q", name)
	return string(m[1])
}

// TestREADMERecipes runs every PAM stack README recommends for a password
// and a code (RHEL's block and the shipped contrib files for sshd, login,
// su and sudo) through pamtester with a real password and a real code:
//   - a wrong password with the right code is refused before the code is
//     asked, so the code is neither used up nor counted as a failure;
//   - the right password with no code is refused;
//   - the right password and the right code get in.
func TestREADMERecipes(t *testing.T) {
	t.Parallel()
	b, module := hostSetup(t, "pamtester", "chpasswd")
	d := startDaemon(t, b, config{})
	stacks := map[string]string{
		"README rhel-sshd":               hostAdapt(t, readmeRecipe(t, "rhel-sshd"), module, d.Socket, 5),
		"contrib sshd-password-and-code": hostContribStack(t, "pam.d/sshd-password-and-code", module, d.Socket, 5),
		"contrib login":                  hostContribStack(t, "pam.d/login", module, d.Socket, 5),
		"contrib su":                     hostContribStack(t, "pam.d/su", module, d.Socket, 5),
		"contrib sudo":                   hostContribStack(t, "pam.d/sudo", module, d.Socket, 5),
	}
	for name, stack := range stacks {
		t.Run(strings.ReplaceAll(name, " ", "_"), func(t *testing.T) {
			svc := hostService(t, "recipe", stack)
			alice := newUser(t)
			pamtester := func(stdin string) hostRun {
				t.Helper()
				cmd := exec.Command("pamtester", "-v", svc, alice.Name, "authenticate")
				cmd.Env = hostEnv()
				if name == "contrib su" {
					// su's stack lets root in with no password at all
					// (pam_rootok): it is run by the user who types su.
					cmd.SysProcAttr = &syscall.SysProcAttr{Credential: alice.credential()}
				}
				return hostExec(t, cmd, stdin, 30*time.Second)
			}
			pw := hostPassword()
			hostSetPasswords(t, map[string]string{alice.Name: pw})
			e := hostEnroll(t, d, alice)
			step := stableStep(t, 12*time.Second)
			code := codeForStep(t, e.Secret, step)

			r := pamtester("not-" + pw + "\n" + code + "\n")
			requireHostRefused(t, r, hostPtAuthErr)
			require.NotContains(t, r.Out(), "Verification code: ", "%s: the code was asked after a wrong password", name)
			s := d.Show(alice.Name)
			require.Zero(t, s.Failures, "%s: a wrong password counted towards the code lockout", name)

			r = pamtester(pw + "\n\n")
			requireHostRefused(t, r, hostPtAuthErr)
			require.Contains(t, r.Out(), "Verification code: ", "%s: the right password must lead to the code", name)

			// The code the wrong password came with was not used up.
			r = pamtester(pw + "\n" + code + "\n")
			requireHostSuccess(t, r, false)
		})
	}
}
