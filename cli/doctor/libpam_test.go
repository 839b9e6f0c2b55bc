package doctor

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/e2e/testutils"
)

// pamtester's words for pam_authenticate's results (pam_strerror).
var strerror = map[int]string{
	retSuccess:        "successfully authenticated",
	retAuthErr:        "Authentication failure",
	retIgnore:         "The return value should be ignored by PAM dispatch",
	retUserUnknown:    "User not known to the underlying authentication module",
	retPermDenied:     "Permission denied",
	retNewAuthtokReqd: "Authentication token is no longer valid; new one required",
	retMaxtries:       "Have exhausted maximum number of retries for service",
	retModuleUnknown:  "Module is unknown",
}

var diffRets = []string{"success", "auth_err", "ignore", "user_unknown", "perm_denied", "new_authtok_reqd"}

func randomControl(r *rand.Rand) string {
	if n := r.IntN(8); n < 4 {
		return []string{"required", "requisite", "sufficient", "optional"}[n]
	}
	vals := []string{"success", "auth_err", "ignore", "default", "new_authtok_reqd", "perm_denied"}
	acts := []string{"ok", "done", "bad", "die", "ignore", "reset", "1", "2", "3"}
	var pairs []string
	for i := 0; i <= r.IntN(3); i++ {
		pairs = append(pairs, vals[r.IntN(len(vals))]+"="+acts[r.IntN(len(acts))])
	}
	return "[" + strings.Join(pairs, " ") + "]"
}

// randomFile writes a stack of n lines: pam_debug.so lines that return a
// chosen value, and includes, substacks and @includes of files made the
// same way (depth bounded).
func randomFile(t *testing.T, r *rand.Rand, dir string, depth int) string {
	var lines []string
	for i := 0; i < 1+r.IntN(5); i++ {
		switch k := r.IntN(10); {
		case k < 7 || depth >= 2:
			mod := "pam_debug.so auth=" + diffRets[r.IntN(len(diffRets))]
			if r.IntN(12) == 0 {
				mod = "pam_totpd_no_such_module.so"
			}
			lines = append(lines, "auth "+randomControl(r)+" "+mod)
		case k == 7:
			lines = append(lines, "auth include "+randomFile(t, r, dir, depth+1))
		case k == 8:
			lines = append(lines, "auth substack "+randomFile(t, r, dir, depth+1))
		default:
			lines = append(lines, "@include "+randomFile(t, r, dir, depth+1))
		}
	}
	f, err := os.CreateTemp(dir, "stack-")
	require.NoError(t, err)
	_, err = f.WriteString(strings.Join(lines, "\n") + "\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return f.Name()
}

// TestRunMatchesLibpam proves the evaluator's model of libpam's dispatcher
// against libpam itself: random stacks of pam_debug.so lines (each gives a
// chosen result), with every kind of control, jumps, resets, include,
// substack and @include, run through pamtester and through Stack.Run.
func TestRunMatchesLibpam(t *testing.T) {
	testutils.RequireRoot(t, "writes a PAM service in /etc/pam.d")
	testutils.RequireTools(t, "pamtester", "pamtester")
	dir := t.TempDir()
	name := hostkit.ServiceName("totpd-test-doctor")
	path := filepath.Join(hostkit.PAMDir, name)
	t.Cleanup(func() { os.Remove(path) })
	r := rand.New(rand.NewPCG(12, 2026))
	seen := map[string]int{}
	for i := 0; i < 300; i++ {
		top := randomFile(t, r, dir, 0)
		text, err := os.ReadFile(top)
		require.NoError(t, err)
		os.Remove(path)
		_, err = hostkit.WritePAMService(name, string(text))
		require.NoError(t, err)

		l := &Loader{Dirs: []string{hostkit.PAMDir}, ModuleDirs: DefaultModuleDirs()}
		st := l.Load(name)
		want := "Initialization failure" // pam_start fails for a service libpam cannot load
		if st.Broken == "" {
			got := st.Run(func(h *Handler) int {
				if h.Missing {
					return retModuleUnknown
				}
				for _, a := range h.Line.Args {
					if v, ok := strings.CutPrefix(a, "auth="); ok {
						for i, n := range returnNames {
							if n == v {
								return i
							}
						}
					}
				}
				t.Fatalf("no auth= in %q", h.Line.Text)
				return 0
			})
			want = strerror[got]
			require.NotEmpty(t, want, "result %d", got)
		}
		out, _ := exec.Command("pamtester", name, "root", "authenticate").CombinedOutput()
		var res string
		for _, ln := range strings.Split(string(out), "\n") {
			if s, ok := strings.CutPrefix(ln, "pamtester: "); ok {
				res = s
			}
		}
		require.Equal(t, want, res, "stack %d:\n%s", i, dump(t, string(text), dir))
		seen[res]++
	}
	// The stacks are varied enough to reach most results.
	t.Logf("results: %v", seen)
	require.GreaterOrEqual(t, len(seen), 6, "%v", seen)
}

func dump(t *testing.T, top, dir string) string {
	var b strings.Builder
	b.WriteString(top)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		c, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		fmt.Fprintf(&b, "--- %s\n%s", filepath.Join(dir, e.Name()), c)
	}
	return b.String()
}
