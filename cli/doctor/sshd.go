package doctor

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// SSHDService is the PAM service OpenSSH's sshd uses (its program name).
const SSHDService = "sshd"

// SSHDConfig is what doctor needs of sshd's effective configuration.
type SSHDConfig struct {
	Source string // "sshd -T", or the file given
	// Values holds the first value of each keyword (lower case), as sshd
	// keeps it, with where it was set.
	Values map[string]Setting
	// Matches are the Match blocks, not evaluated.
	Matches []Setting
}

// Setting is one keyword's value and where it comes from.
type Setting struct {
	Value string
	Pos   Pos
}

// sshdDefaults are OpenSSH's built-in values (portable OpenSSH 9: UsePAM
// is off unless the file turns it on, as Debian's and Fedora's do).
var sshdDefaults = map[string]string{
	"usepam": "no", "passwordauthentication": "yes", "kbdinteractiveauthentication": "yes",
	"pubkeyauthentication": "yes", "hostbasedauthentication": "no", "gssapiauthentication": "no",
	"authenticationmethods": "any",
}

// get reports keyword's effective value and where it was set.
func (c *SSHDConfig) get(key string) Setting {
	if s, ok := c.Values[key]; ok {
		return s
	}
	return Setting{Value: sshdDefaults[key], Pos: Pos{File: c.Source + " (default)"}}
}

// ParseSSHDT reads the output of `sshd -T`: one "keyword value" a line.
func ParseSSHDT(r io.Reader) (*SSHDConfig, error) {
	c := &SSHDConfig{Source: "sshd -T", Values: map[string]Setting{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		k = strings.ToLower(k)
		if k == "challengeresponseauthentication" {
			k = "kbdinteractiveauthentication"
		}
		if _, ok := c.Values[k]; !ok && k != "" {
			c.Values[k] = Setting{Value: strings.TrimSpace(v), Pos: Pos{File: "sshd -T", Line: n}}
		}
	}
	return c, sc.Err()
}

// maxSSHDInclude bounds Include nesting as sshd does (16).
const maxSSHDInclude = 16

// ReadSSHDConfig reads a staged sshd_config as sshd does: keywords are
// case-insensitive, the first value of a keyword wins, Include pulls in
// files (globs sorted; a relative path is taken from the directory of the
// main file, which is /etc/ssh for the real one), and Match blocks (to the
// next Match or the end of their file) are recorded, not evaluated.
func ReadSSHDConfig(path string) (*SSHDConfig, error) {
	c := &SSHDConfig{Source: path, Values: map[string]Setting{}}
	return c, c.readFile(path, filepath.Dir(path), 0)
}

func (c *SSHDConfig) readFile(path, base string, depth int) error {
	if depth > maxSSHDInclude {
		return fmt.Errorf("%s: Include nests deeper than %d", path, maxSSHDInclude)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	inMatch := false
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v := splitKeyword(line)
		k = strings.ToLower(k)
		pos := Pos{File: path, Line: n}
		switch k {
		case "match":
			inMatch = true
			c.Matches = append(c.Matches, Setting{Value: v, Pos: pos})
			continue
		case "include":
			for _, pat := range strings.Fields(v) {
				if !filepath.IsAbs(pat) {
					pat = filepath.Join(base, pat)
				}
				files, err := filepath.Glob(pat)
				if err != nil {
					return fmt.Errorf("%s: Include %s: %v", pos, pat, err)
				}
				sort.Strings(files)
				for _, inc := range files {
					if err := c.readFile(inc, base, depth+1); err != nil {
						return err
					}
				}
			}
			continue
		case "challengeresponseauthentication":
			k = "kbdinteractiveauthentication"
		}
		if inMatch {
			c.Matches[len(c.Matches)-1].Value += "; " + k + " " + v
			continue
		}
		if _, ok := c.Values[k]; !ok {
			c.Values[k] = Setting{Value: v, Pos: pos}
		}
	}
	return sc.Err()
}

// splitKeyword cuts "Keyword value" or "Keyword=value".
func splitKeyword(line string) (string, string) {
	i := strings.IndexAny(line, " \t=")
	if i < 0 {
		return line, ""
	}
	k, rest := line[:i], strings.TrimLeft(line[i:], " \t")
	rest = strings.TrimPrefix(rest, "=")
	return k, strings.TrimSpace(rest)
}

func yes(s Setting) bool { return strings.EqualFold(s.Value, "yes") }

// authKeywords are the settings that decide whether and how the code is asked.
var authKeywords = []string{"authenticationmethods", "usepam", "passwordauthentication", "kbdinteractiveauthentication", "permitemptypasswords"}

// matchSetsAuth reports whether a Match block (its criteria, then
// "; keyword value" for each setting) sets one of authKeywords.
func matchSetsAuth(block string) bool {
	for _, k := range authKeywords {
		if strings.Contains(block, "; "+k+" ") {
			return true
		}
	}
	return false
}

// AnalyseSSHD checks sshd's configuration against the sshd stack's analysis.
func AnalyseSSHD(c *SSHDConfig, a *Analysis) []Finding {
	var out []Finding
	add := func(sev Severity, check string, s Setting, format string, args ...any) {
		out = append(out, Finding{Severity: sev, Check: check, Service: SSHDService, File: s.Pos.File, Line: s.Pos.Line, Message: fmt.Sprintf(format, args...)})
	}
	for _, m := range c.Matches {
		if matchSetsAuth(m.Value) {
			// Not evaluated, and it decides how some logins authenticate
			// (AuthenticationMethods publickey for one network, say): a
			// hole until someone has checked it, never "sound".
			add(Hole, "sshd-match", m, "Match %s: changes how matching logins authenticate and is not evaluated; check it with sshd -T -C user=NAME,host=HOST,addr=ADDR (doctor counts it as a hole)", m.Value)
			continue
		}
		add(Warning, "sshd-match", m, "Match %s: not evaluated; doctor checks the global settings only (check this block by hand, e.g. sshd -T -C user=NAME,host=HOST,addr=ADDR)", m.Value)
	}
	usePAM := c.get("usepam")
	if !yes(usePAM) {
		add(Hole, "sshd-usepam", usePAM, "UsePAM %s: sshd never runs the PAM stack, so no SSH login asks for the code (set UsePAM yes)", usePAM.Value)
		return out
	}
	enabled := map[string]Setting{
		"publickey":            c.get("pubkeyauthentication"),
		"password":             c.get("passwordauthentication"),
		"keyboard-interactive": c.get("kbdinteractiveauthentication"),
		"hostbased":            c.get("hostbasedauthentication"),
		"gssapi-with-mic":      c.get("gssapiauthentication"),
	}
	methods := c.get("authenticationmethods")
	var lists [][]string
	if strings.EqualFold(methods.Value, "any") || methods.Value == "" {
		for _, m := range []string{"publickey", "password", "keyboard-interactive", "hostbased", "gssapi-with-mic"} {
			if yes(enabled[m]) {
				lists = append(lists, []string{m})
			}
		}
	} else {
		for _, l := range strings.Fields(methods.Value) {
			var ms []string
			for _, m := range strings.Split(l, ",") {
				m, _, _ = strings.Cut(m, ":") // keyboard-interactive:pam
				ms = append(ms, m)
			}
			lists = append(lists, ms)
		}
	}
	usable := 0
	for _, l := range lists {
		name := strings.Join(l, ",")
		off := ""
		for _, m := range l {
			if s, ok := enabled[m]; ok && !yes(s) {
				off = m
				if m == "keyboard-interactive" {
					add(Warning, "sshd-kbdint", s, "KbdInteractiveAuthentication %s, but AuthenticationMethods (%s) needs keyboard-interactive for %q: no login by that list can complete (set KbdInteractiveAuthentication yes)", s.Value, methods.Pos, name)
				}
				break
			}
		}
		if off != "" {
			continue
		}
		usable++
		pam, pw, kbd := false, false, false
		for _, m := range l {
			switch m {
			case "password":
				pam, pw = true, true
			case "keyboard-interactive":
				pam, kbd = true, true
			}
		}
		key := false
		for _, m := range l {
			if m == "publickey" || m == "hostbased" || m == "gssapi-with-mic" {
				key = true
			}
		}
		switch {
		case !pam:
			add(Hole, "sshd-methods", methods, "AuthenticationMethods %s lets an enrolled user in by %q without the PAM stack, so without the code (require keyboard-interactive after it, e.g. AuthenticationMethods publickey,keyboard-interactive)", methods.Value, name)
		case pw && a.NoPassword:
			s := enabled["password"]
			add(Hole, "sshd-password", s, "PasswordAuthentication yes, and the sshd stack checks no password: sshd's password method runs it with the password as every answer, so users totpd does not cover get in with any password (set PasswordAuthentication no)")
		case pw:
			s := enabled["password"]
			add(Warning, "sshd-password", s, "PasswordAuthentication yes: sshd's password method answers every PAM question with the password, so the code prompt gets the password (refused, and counted towards the lockout); ask both through keyboard-interactive instead (PasswordAuthentication no)")
		case kbd && !key && a.NoPassword:
			add(Hole, "sshd-methods", methods, "AuthenticationMethods %s: %q asks neither a key nor a password before a stack that checks no password, so the code alone lets an enrolled user in and users totpd does not cover get in with nothing", methods.Value, name)
		}
	}
	if usable == 0 {
		add(Warning, "sshd-methods", methods, "no AuthenticationMethods list (%s) can complete with the methods enabled: sshd refuses every login", methods.Value)
	}
	return out
}
