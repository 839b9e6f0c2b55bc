// Package install tests what `make package` and `make install` produce,
// as a sysadmin meets it: lintian on the .deb, the .rpm read back with
// rpm, a source install beside the .deb, and a real apt-get install,
// reinstall, remove and purge on this machine.
//
// The apt-get test changes the machine (it installs the package, then
// purges it), so `make test` runs this package on its own, after the
// others: nothing else may create accounts or PAM files meanwhile. It needs
// root and dist/ from `make package`; under CI or as root a missing
// prerequisite fails, never skips.
package install

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/totpd/totpd/e2e/testutils"
)

// tools the tests run, and the Debian packages they come from.
const toolHint = "lintian, rpm, dpkg, apt, systemd"

// repo reports the repository root and the version being packaged.
func repo(t *testing.T) (root, version string) {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	v, err := os.ReadFile(filepath.Join(root, "VERSION"))
	require.NoError(t, err)
	return root, strings.TrimSpace(string(v))
}

// packages reports the paths of the .deb and the .rpm of this version.
func packages(t *testing.T) (deb, rpm string) {
	t.Helper()
	root, v := repo(t)
	deb = filepath.Join(root, "dist", "totpd_"+v+"_amd64.deb")
	rpm = filepath.Join(root, "dist", "totpd-"+v+"-1.x86_64.rpm")
	for _, p := range []string{deb, rpm} {
		if _, err := os.Stat(p); err != nil {
			testutils.Unmet(t, "%s is missing: run `make package` first (make test does): %v", p, err)
		}
	}
	return deb, rpm
}

// run runs a program to its end within limit and reports its combined
// output and exit code; a program that cannot start fails the test.
func run(t *testing.T, limit time.Duration, env []string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %s did not finish within %v:\n%s", name, strings.Join(args, " "), limit, out)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	require.NoError(t, err, "%s %s", name, strings.Join(args, " "))
	return string(out), 0
}

// must runs a program that must succeed and reports its output.
func must(t *testing.T, limit time.Duration, name string, args ...string) string {
	t.Helper()
	out, code := run(t, limit, nil, name, args...)
	require.Zero(t, code, "%s %s:\n%s", name, strings.Join(args, " "), out)
	return out
}

// entry is one file of a package or an installed tree: its mode as ls
// prints it (-rw-r--r--) and its owner.
type entry struct{ Mode, Owner string }

// debFiles reports the regular files of a .deb (path → entry).
func debFiles(t *testing.T, deb string) map[string]entry {
	t.Helper()
	files := map[string]entry{}
	for _, l := range strings.Split(must(t, time.Minute, "dpkg-deb", "-c", deb), "\n") {
		f := strings.Fields(l)
		if len(f) < 6 || !strings.HasPrefix(f[0], "-") {
			continue
		}
		files[strings.TrimPrefix(f[5], ".")] = entry{Mode: f[0], Owner: f[1]}
	}
	require.NotEmpty(t, files, "no files in %s", deb)
	return files
}

// treeFiles reports the regular files under dir, as paths below it.
func treeFiles(t *testing.T, dir string) map[string]entry {
	t.Helper()
	files := map[string]entry{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		owner := "root/root"
		if st.Uid != 0 || st.Gid != 0 {
			owner = "not-root"
		}
		files[strings.TrimPrefix(p, dir)] = entry{Mode: info.Mode().String(), Owner: owner}
		return nil
	}))
	return files
}

// wantDeb is what the .deb must hold (issue 8, ARCHITECTURE.md, "The parts", and README, "Packages").
var wantDeb = map[string]string{
	"/usr/sbin/totpd":                                    "-rwxr-xr-x",
	"/usr/libexec/totpd/totpd-fleet":                     "-rwxr-xr-x",
	"/usr/bin/totpctl":                                   "-rwxr-xr-x",
	"/usr/lib/x86_64-linux-gnu/security/pam_totpd.so":    "-rw-r--r--",
	"/usr/lib/x86_64-linux-gnu/security/pam_totpd_go.so": "-rw-r--r--",
	"/usr/lib/systemd/system/totpd.socket":               "-rw-r--r--",
	"/usr/lib/systemd/system/totpd.service":              "-rw-r--r--",
	"/etc/totpd/totpd.toml":                              "-rw-r--r--",
	"/usr/share/pam-configs/totpd":                       "-rw-r--r--",
	"/usr/share/man/man8/totpd.8.gz":                     "-rw-r--r--",
	"/usr/share/man/man8/pam_totpd.8.gz":                 "-rw-r--r--",
	"/usr/share/man/man1/totpctl.1.gz":                   "-rw-r--r--",
	"/usr/share/man/man5/totpd.toml.5.gz":                "-rw-r--r--",
	"/usr/share/doc/totpd/copyright":                     "-rw-r--r--",
	"/usr/share/doc/totpd/changelog.Debian.gz":           "-rw-r--r--",
}

// lintianExplained are the lintian warnings the .deb may carry, each
// with the reason it stays. Errors are never allowed.
var lintianExplained = map[string]string{
	// An "initial upload" to Debian's archive closes its ITP bug; totpd is
	// not uploaded to Debian, so there is no bug to close.
	"initial-upload-closes-no-bugs": "not uploaded to the Debian archive: no ITP bug to close",
}

var lintianLine = regexp.MustCompile(`^([EWIPNXO]): totpd[^:]*: (\S+)(.*)$`)

// TestDebLintian: lintian reports no error, and no warning that is not
// explained in lintianExplained.
func TestDebLintian(t *testing.T) {
	testutils.RequireTools(t, toolHint, "lintian")
	deb, _ := packages(t)
	out, code := run(t, 5*time.Minute, nil, "lintian", "--tag-display-limit", "0", deb)
	t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
	tags := 0
	for _, l := range strings.Split(out, "\n") {
		m := lintianLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		tags++
		switch m[1] {
		case "E":
			t.Errorf("lintian error: %s", l)
		case "W":
			if _, ok := lintianExplained[m[2]]; !ok {
				t.Errorf("lintian warning not fixed nor explained: %s", l)
			}
		}
	}
	// Exit 0, or 1 with the errors above; anything else is lintian itself
	// failing to check the package.
	require.True(t, code == 0 || code == 1 && tags > 0, "lintian exited %d:\n%s", code, out)
}

// TestDebContents: the files, modes, conffile and maintainer scripts
// of the .deb.
func TestDebContents(t *testing.T) {
	testutils.RequireTools(t, toolHint, "dpkg-deb")
	deb, _ := packages(t)
	files := debFiles(t, deb)
	for p, mode := range wantDeb {
		got, ok := files[p]
		if !ok {
			t.Errorf("the .deb lacks %s", p)
			continue
		}
		require.Equal(t, mode, got.Mode, p)
	}
	for p, e := range files {
		require.Equal(t, "root/root", e.Owner, "%s must be root's", p)
		require.NotRegexp(t, `^-....w|^-.......w`, e.Mode, "%s must not be group or world writable", p)
	}
	conffiles := must(t, time.Minute, "dpkg-deb", "--info", deb, "conffiles")
	require.Equal(t, "/etc/totpd/totpd.toml", strings.TrimSpace(conffiles), "conffiles")

	postinst := must(t, time.Minute, "dpkg-deb", "--info", deb, "postinst")
	require.Contains(t, postinst, "groupadd --system totpd-admin")
	require.Contains(t, postinst, "deb-systemd-helper enable totpd.socket")
	require.Contains(t, postinst, "deb-systemd-invoke start totpd.socket")
	prerm := must(t, time.Minute, "dpkg-deb", "--info", deb, "prerm")
	require.Contains(t, prerm, "deb-systemd-invoke stop totpd.socket totpd.service")
	postrm := must(t, time.Minute, "dpkg-deb", "--info", deb, "postrm")
	require.Contains(t, postrm, "rm -rf /var/lib/totpd /etc/totpd")
	requireNoLoginConfig(t, "deb maintainer scripts", postinst+prerm+postrm)
}

// requireNoLoginConfig fails when scripts touch a PAM stack or sshd's
// configuration: installing must lock nobody out.
func requireNoLoginConfig(t *testing.T, what, scripts string) {
	t.Helper()
	var code []string // the commands, without the comments that explain them
	for _, l := range strings.Split(scripts, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			code = append(code, l)
		}
	}
	for _, bad := range []string{"/etc/pam.d", "pam-auth-update", "/etc/ssh", "sshd"} {
		require.NotContains(t, strings.Join(code, "\n"), bad, "%s must not touch PAM or sshd", what)
	}
}

// TestRPM: rpm reads the .rpm back: files where RPM distributions look,
// the configuration as config(noreplace), the scriptlets.
func TestRPM(t *testing.T) {
	testutils.RequireTools(t, toolHint, "rpm")
	_, rpm := packages(t)
	list := must(t, time.Minute, "rpm", "-qlp", rpm)
	t.Logf("rpm -qlp:\n%s", list)
	for p := range wantDeb {
		switch {
		case strings.HasPrefix(p, "/usr/lib/x86_64-linux-gnu/security/"):
			p = "/usr/lib64/security/" + filepath.Base(p)
		case p == "/usr/share/pam-configs/totpd":
			continue // pam-auth-update is Debian's
		case p == "/usr/share/doc/totpd/changelog.Debian.gz":
			p = "/usr/share/doc/totpd/changelog.gz"
		}
		require.Contains(t, strings.Split(list, "\n"), p, "the .rpm lacks %s", p)
	}
	require.Contains(t, list, "/usr/lib/systemd/system-preset/80-totpd.preset")

	flags := must(t, time.Minute, "rpm", "-qp", "--qf", `[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME} %{FILENAMES}\n]`, rpm)
	var config []string
	for _, l := range strings.Split(strings.TrimSpace(flags), "\n") {
		f := strings.Fields(l)
		if len(f) == 3 { // no flags: a directory
			f = append([]string{""}, f...)
		}
		require.Len(t, f, 4, l)
		require.Equal(t, "root", f[2], l)
		if strings.Contains(f[0], "c") {
			config = append(config, f[0]+" "+f[3])
		}
	}
	require.Equal(t, []string{"cn /etc/totpd/totpd.toml"}, config, "config files and their flags (c = config, n = noreplace)")

	scripts := must(t, time.Minute, "rpm", "-qp", "--scripts", rpm)
	t.Logf("rpm -qp --scripts:\n%s", scripts)
	for _, want := range []string{
		"preinstall scriptlet", "groupadd -r totpd-admin",
		"postinstall scriptlet", "systemctl --no-reload preset totpd.socket", "systemctl start totpd.socket",
		"preuninstall scriptlet", "disable --now totpd.socket totpd.service",
		"postuninstall scriptlet", "try-restart totpd.service",
	} {
		require.Contains(t, scripts, want)
	}
	requireNoLoginConfig(t, "rpm scriptlets", scripts)
}

// TestMakeInstallMatchesDeb: `make install DESTDIR=…` installs exactly
// the .deb's files with the .deb's modes; PREFIX moves the programs and
// the unit follows.
func TestMakeInstallMatchesDeb(t *testing.T) {
	testutils.RequireTools(t, toolHint, "make", "dpkg-deb")
	root, _ := repo(t)
	deb, _ := packages(t)

	dest := t.TempDir()
	out := must(t, 5*time.Minute, "make", "-C", root, "--no-print-directory", "install", "DESTDIR="+dest, "LAYOUT=deb")
	require.Contains(t, out, "installed")
	require.NotContains(t, out, "enabled", "a DESTDIR install must not touch the running system")
	require.Equal(t, debFiles(t, deb), treeFiles(t, dest), "make install DESTDIR=… against the .deb")

	// A second install keeps an edited configuration.
	conf := filepath.Join(dest, "etc/totpd/totpd.toml")
	require.NoError(t, os.WriteFile(conf, []byte("# edited\n"), 0o644))
	out = must(t, 5*time.Minute, "make", "-C", root, "--no-print-directory", "install", "DESTDIR="+dest, "LAYOUT=deb")
	require.Contains(t, out, "kept "+conf)
	b, err := os.ReadFile(conf)
	require.NoError(t, err)
	require.Equal(t, "# edited\n", string(b))

	must(t, 5*time.Minute, "make", "-C", root, "--no-print-directory", "uninstall", "DESTDIR="+dest, "LAYOUT=deb")
	left := treeFiles(t, dest)
	delete(left, "/etc/totpd/totpd.toml.new")
	require.Equal(t, []string{"/etc/totpd/totpd.toml"}, keys(left), "uninstall keeps only the configuration")

	local := t.TempDir()
	must(t, 5*time.Minute, "make", "-C", root, "--no-print-directory", "install", "DESTDIR="+local, "PREFIX=/usr/local", "LAYOUT=deb")
	unit, err := os.ReadFile(filepath.Join(local, "usr/lib/systemd/system/totpd.service"))
	require.NoError(t, err)
	require.Contains(t, string(unit), "\nExecStart=/usr/local/sbin/totpd --config /etc/totpd/totpd.toml\n")
	for _, p := range []string{"usr/local/sbin/totpd", "usr/local/bin/totpctl", "usr/lib/x86_64-linux-gnu/security/pam_totpd.so", "usr/local/share/man/man8/totpd.8.gz"} {
		require.FileExists(t, filepath.Join(local, p))
	}
}

func keys(m map[string]entry) []string {
	var k []string
	for p := range m {
		k = append(k, p)
	}
	sort.Strings(k)
	return k
}

// loginConfig reports a checksum of every file under /etc/pam.d and
// /etc/ssh. Files that other suites make for themselves (totpd-e2e-*,
// totpd-demo-*) are left out; this package runs alone anyway.
func loginConfig(t *testing.T) map[string]string {
	t.Helper()
	sums := map[string]string{}
	for _, dir := range []string{"/etc/pam.d", "/etc/ssh"} {
		require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), "totpd-e2e-") || strings.HasPrefix(d.Name(), "totpd-demo-") || d.IsDir() {
				return nil
			}
			if d.Type()&fs.ModeSymlink != 0 {
				target, err := os.Readlink(p)
				sums[p] = "-> " + target
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			sums[p] = hex.EncodeToString(h[:])
			return nil
		}))
	}
	return sums
}

func installed(t *testing.T) string {
	t.Helper()
	out, code := run(t, time.Minute, nil, "dpkg-query", "-W", "-f=${db:Status-Abbrev}", "totpd")
	if code != 0 { // not known to dpkg at all
		return ""
	}
	return strings.TrimSpace(out)
}

var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive"}

func apt(t *testing.T, args ...string) string {
	t.Helper()
	out, code := run(t, 5*time.Minute, aptEnv, "apt-get", append([]string{"-y", "-q"}, args...)...)
	require.Zero(t, code, "apt-get %s:\n%s", strings.Join(args, " "), out)
	return out
}

const (
	socketPath = "/run/totpd/totpd.sock"
	wantsLink  = "/etc/systemd/system/sockets.target.wants/totpd.socket"
)

// TestAptInstallRemovePurge installs the .deb on this machine for real.
func TestAptInstallRemovePurge(t *testing.T) {
	testutils.RequireRoot(t, "it installs and purges the .deb with apt-get")
	testutils.RequireTools(t, toolHint, "apt-get", "dpkg-query", "systemd-analyze", "getent", "groupdel")
	deb, _ := packages(t)
	if s := installed(t); strings.HasPrefix(s, "ii") || strings.HasPrefix(s, "rc") {
		t.Fatalf("totpd is already installed here (dpkg status %q): purge it first (apt-get purge totpd); this test installs and purges it", s)
	}
	for _, p := range []string{"/etc/totpd", "/var/lib/totpd", socketPath} {
		if _, err := os.Lstat(p); err == nil {
			t.Fatalf("%s exists though totpd is not installed: move it away first; this test would delete it at purge", p)
		}
	}
	_, groupCode := run(t, time.Minute, nil, "getent", "group", "totpd-admin")
	groupBefore := groupCode == 0
	t.Cleanup(func() {
		if s := installed(t); strings.HasPrefix(s, "ii") || strings.HasPrefix(s, "rc") {
			_, _ = run(t, 5*time.Minute, aptEnv, "apt-get", "-y", "-q", "purge", "totpd")
		}
		if !groupBefore {
			_, _ = run(t, time.Minute, nil, "groupdel", "totpd-admin")
		}
	})
	before := loginConfig(t)

	out := apt(t, "install", deb)
	t.Logf("apt-get install:\n%s", out)
	require.True(t, strings.HasPrefix(installed(t), "ii"), "dpkg status after install: %q", installed(t))
	for p, mode := range wantDeb {
		info, err := os.Stat(p)
		require.NoError(t, err, "installed file %s", p)
		require.Equal(t, mode, info.Mode().String(), p)
		st := info.Sys().(*syscall.Stat_t)
		require.Equal(t, [2]uint32{0, 0}, [2]uint32{st.Uid, st.Gid}, "%s must be root's", p)
	}
	_, code := run(t, time.Minute, nil, "getent", "group", "totpd-admin")
	require.Zero(t, code, "the group totpd-admin after install")
	// deb-systemd-helper links to /lib/…, which merged /usr makes the same file.
	target, err := filepath.EvalSymlinks(wantsLink)
	require.NoError(t, err, "totpd.socket enabled (%s)", wantsLink)
	require.Equal(t, "/usr/lib/systemd/system/totpd.socket", target)
	require.Equal(t, before, loginConfig(t), "installing changed a file under /etc/pam.d or /etc/ssh")

	// The installed units: valid, and sandboxed as ARCHITECTURE.md, "Numbers" asks.
	must(t, time.Minute, "systemd-analyze", "verify", "/usr/lib/systemd/system/totpd.socket", "/usr/lib/systemd/system/totpd.service")
	score, err := testutils.Exposure("/", "/usr/lib/systemd/system/totpd.service")
	require.NoError(t, err)
	t.Logf("systemd-analyze security --offline=true totpd.service: %.1f", score)
	require.LessOrEqual(t, score, testutils.GoalExposure)

	// The installed daemon answers the installed totpctl.
	answers(t)

	// An edited configuration survives a reinstall.
	conf := "/etc/totpd/totpd.toml"
	b, err := os.ReadFile(conf)
	require.NoError(t, err)
	edited := strings.Replace(string(b), "max_failures = 5", "max_failures = 7", 1)
	require.NotEqual(t, string(b), edited, "the default config has no `max_failures = 5` line to edit")
	require.NoError(t, os.WriteFile(conf, []byte(edited), 0o644))
	apt(t, "install", "--reinstall", deb)
	b, err = os.ReadFile(conf)
	require.NoError(t, err)
	require.Equal(t, edited, string(b), "reinstall replaced the edited configuration")
	answers(t)

	// remove keeps the configuration, the master key and the state.
	apt(t, "remove", "totpd")
	require.True(t, strings.HasPrefix(installed(t), "rc"), "dpkg status after remove: %q", installed(t))
	require.NoFileExists(t, "/usr/sbin/totpd")
	require.NoFileExists(t, "/usr/lib/x86_64-linux-gnu/security/pam_totpd.so")
	b, err = os.ReadFile(conf)
	require.NoError(t, err, "remove must keep %s", conf)
	require.Equal(t, edited, string(b))
	require.FileExists(t, "/etc/totpd/master.key", "remove must keep the master key")
	require.DirExists(t, "/var/lib/totpd", "remove must keep the state")

	// purge deletes them.
	apt(t, "purge", "totpd")
	require.Empty(t, installed(t), "dpkg status after purge")
	for _, p := range []string{"/etc/totpd", "/var/lib/totpd", wantsLink} {
		_, err := os.Lstat(p)
		require.True(t, os.IsNotExist(err), "purge must delete %s (%v)", p, err)
	}
	require.Equal(t, before, loginConfig(t), "remove or purge changed a file under /etc/pam.d or /etc/ssh")
}

// answers starts the installed totpd by hand with the installed
// configuration (no systemd here to activate the socket), asks it with the
// installed totpctl, and stops it by its pid.
func answers(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(filepath.Dir(socketPath)); os.IsNotExist(err) {
		// totpd makes the socket's directory (systemd would); leave none behind.
		t.Cleanup(func() { _ = os.Remove(filepath.Dir(socketPath)) })
	}
	var logs bytes.Buffer
	d := exec.Command("/usr/sbin/totpd", "--config", "/etc/totpd/totpd.toml")
	d.Stdout, d.Stderr = &logs, &logs
	require.NoError(t, d.Start())
	done := make(chan error, 1)
	go func() { done <- d.Wait() }()
	defer func() {
		_ = d.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = d.Process.Kill()
			<-done
			t.Errorf("totpd did not stop within 10 s of SIGTERM")
		}
	}()
	testutils.WaitFor(t, 10*time.Second, "the installed totpd to listen on "+socketPath, func() bool {
		_, err := os.Stat(socketPath)
		return err == nil
	})
	out, code := run(t, time.Minute, []string{"TOTPD_SOCKET="}, "/usr/bin/totpctl", "users", "--json")
	require.Zero(t, code, "totpctl users --json:\n%s\ntotpd:\n%s", out, logs.String())
	require.True(t, strings.HasPrefix(strings.TrimSpace(out), "["), "totpctl users --json printed %q", out)
	out, code = run(t, time.Minute, []string{"TOTPD_SOCKET="}, "/usr/bin/totpctl", "status")
	require.Zero(t, code, "totpctl status:\n%s", out)
	version := must(t, time.Minute, "/usr/sbin/totpd", "--version")
	_, v := repo(t)
	require.Equal(t, "totpd "+v, strings.TrimSpace(version))
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		require.NotContains(t, strings.ToLower(sc.Text()), "error", "totpd logged: %s", sc.Text())
	}
}
