package main

// -auto: make demo-test. The same path as with a person, the person
// replaced by pseudo-terminals and the repository's own totp package.

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/totpd/totpd/e2e/hostkit"
	"github.com/totpd/totpd/totp"
)

// loginMarker is what the session prints when the login got in.
const loginMarker = "TOTPD-DEMO-OK"

// stepLimit bounds each wait of a conversation (within the whole run's -timeout).
const stepLimit = 15 * time.Second

var (
	uriRE      = regexp.MustCompile(`otpauth://totp/[^\s]+`)
	recoveryRE = regexp.MustCompile(`^[a-z2-7]{5}-[a-z2-7]{5}$`)
)

// bound reports how long the next wait may take: stepLimit, or less when
// the run's deadline is nearer.
func (d *demo) bound(deadline time.Time) time.Duration {
	if left := time.Until(deadline); left < stepLimit {
		return max(left, 0)
	}
	return stepLimit
}

// onTerm starts cmd on a pseudo-terminal, as the program interrupt kills.
func (d *demo) onTerm(cmd *exec.Cmd) (*hostkit.Term, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.ctx.Err(); err != nil {
		return nil, err
	}
	t, err := hostkit.StartTerm(cmd, 50, 200)
	if err != nil {
		return nil, err
	}
	d.term = t
	return t, nil
}

// offTerm ends the program on the pseudo-terminal, if it still runs.
func (d *demo) offTerm(t *hostkit.Term) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t.Close()
	d.term = nil
}

func (d *demo) runAuto() error {
	deadline := time.Now().Add(d.timeout)
	key, confirmStep, err := d.autoEnroll(deadline)
	if err != nil {
		return err
	}

	// The confirmation used its step up: the login takes a later one,
	// the next step's code if still in the same step (the window of 1
	// accepts it), else the current one.
	loginStep := max(confirmStep+1, key.Params.Step(time.Now()))
	good, err := key.Params.CodeAt(key.Secret, loginStep)
	if err != nil {
		return err
	}
	secrets.add(good)
	out, code, asked, err := d.autoLogin(deadline, "the code of a later step", good)
	if err != nil {
		return err
	}
	if !asked {
		return errors.New("login 1: ssh was never asked for a verification code")
	}
	if code != 0 || !strings.Contains(out, loginMarker+" as "+demoUser) {
		return fmt.Errorf("login 1, with the right code, did not get in (ssh exit status %d)", code)
	}
	d.say("login 1 got in: the session printed %q, ssh exit status 0", loginMarker+" as "+demoUser)

	wrong, err := wrongCode(key)
	if err != nil {
		return err
	}
	secrets.add(wrong)
	out, code, asked, err = d.autoLogin(deadline, "a wrong code (no step within 5 minutes has it)", wrong)
	if err != nil {
		return err
	}
	if !asked {
		return errors.New("login 2: ssh was never asked for a verification code")
	}
	if code == 0 || strings.Contains(out, loginMarker) {
		return fmt.Errorf("login 2, with a wrong code, got in (ssh exit status %d)", code)
	}
	d.say("login 2 was refused: ssh exit status %d, no %s", code, loginMarker)
	d.showAudit()
	return nil
}

// autoEnroll runs `totpctl enroll` as the demo user on a pty, reads the
// key from the URI it shows, and confirms with the current code. It
// reports the key and the step the confirming code was for.
func (d *demo) autoEnroll(deadline time.Time) (totp.Key, int64, error) {
	cmd := exec.Command(d.totpctl, "--socket", d.socket, "enroll")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: d.cred}
	cmd.Env = d.userEnv("C.UTF-8", "xterm")
	cmd.Dir = d.home
	d.say("runs %s --socket %s enroll as %s, on a pseudo-terminal (its screen, with the QR code and the key, is not shown here)", d.totpctl, d.socket, demoUser)
	t, err := d.onTerm(cmd)
	if err != nil {
		return totp.Key{}, 0, err
	}
	defer d.offTerm(t)
	fail := func(err error) (totp.Key, int64, error) {
		return totp.Key{}, 0, fmt.Errorf("totpctl enroll: %w", err)
	}
	if _, err := d.expect(t, "totpctl", deadline, "Code: "); err != nil {
		return totp.Key{}, 0, err
	}
	screen := t.Output()
	uri := uriRE.FindString(screen)
	if uri == "" {
		return fail(errors.New("the wizard showed no otpauth:// URI"))
	}
	key, err := totp.ParseURI(uri)
	if err != nil {
		return fail(fmt.Errorf("its URI: %w", err))
	}
	enc := totp.EncodeSecret(key.Secret)
	secrets.add(uri, enc, totp.GroupSecret(enc))
	shown := []string{}
	if strings.Contains(screen, "Scan this QR code") {
		shown = append(shown, "a QR code")
	}
	if strings.Contains(screen, "Key:") {
		shown = append(shown, "the key")
	}
	shown = append(shown, "the URI")
	step := key.Params.Step(time.Now())
	code, err := key.Params.CodeAt(key.Secret, step)
	if err != nil {
		return fail(err)
	}
	secrets.add(code)
	d.say("the wizard showed %s (%s:%s, %s, %d digits, every %v) and asks %q: types the current code",
		strings.Join(shown, ", "), key.Issuer, key.Account, key.Params.Algorithm, key.Params.Digits, key.Params.Period, "Code: ")
	if err := t.Type(code); err != nil {
		return fail(err)
	}
	if _, err := d.expect(t, "totpctl", deadline, "Enrollment confirmed"); err != nil {
		return totp.Key{}, 0, err
	}
	status, err := t.Wait(d.bound(deadline))
	if err != nil {
		return fail(err)
	}
	if status != 0 {
		return fail(fmt.Errorf("exit status %d", status))
	}
	rc := 0
	for _, l := range lines(t.Output()) {
		if recoveryRE.MatchString(l) {
			rc++
			secrets.add(l)
		}
	}
	d.say("the wizard said %q and showed %d recovery codes; exit status 0", "Enrollment confirmed", rc)
	return key, step, nil
}

// autoLogin runs ssh on a pty with a command that prints loginMarker,
// answers every "Verification code:" with code, and reports what the
// terminal showed, ssh's exit status and whether a code was asked.
func (d *demo) autoLogin(deadline time.Time, about, code string) (string, int, bool, error) {
	args := d.sshArgs("echo " + loginMarker + " as $(id -un)")
	cmd := exec.Command(d.tools["ssh"], args...)
	home := "/root"
	if u, err := user.Current(); err == nil {
		home = u.HomeDir
	}
	cmd.Env = append(sysEnv[:len(sysEnv):len(sysEnv)], "HOME="+home, "TERM=xterm")
	d.say("runs ssh %s", strings.Join(quoteArgs(args), " "))
	t, err := d.onTerm(cmd)
	if err != nil {
		return "", 0, false, err
	}
	defer d.offTerm(t)
	asked := 0
	for {
		i, err := t.ExpectAny(d.bound(deadline), "Verification code:", loginMarker+" as ")
		if errors.Is(err, hostkit.ErrExited) {
			break
		}
		if err != nil {
			d.showScreen(t, "ssh")
			return "", 0, false, fmt.Errorf("ssh showed neither %q nor %q within %v", "Verification code:", loginMarker, d.bound(deadline))
		}
		if i == 1 {
			break
		}
		asked++
		if asked > 5 {
			return "", 0, false, errors.New("ssh asked for a code more than 5 times")
		}
		d.say("ssh asks %q: types %s", "Verification code:", about)
		if err := t.Type(code); err != nil {
			return "", 0, false, err
		}
	}
	status, err := t.Wait(d.bound(deadline))
	if err != nil {
		return "", 0, false, err
	}
	out := t.Output()
	for _, l := range lines(out) {
		fmt.Printf("  ssh| %s\n", d.redact(l))
	}
	return out, status, asked > 0, nil
}

// wrongCode reports a code of key's length that no step within 5 minutes
// of now has (so the daemon's window and drift cannot accept it).
func wrongCode(key totp.Key) (string, error) {
	now := key.Params.Step(time.Now())
	near := map[string]bool{}
	for s := now - 10; s <= now+10; s++ {
		c, err := key.Params.CodeAt(key.Secret, s)
		if err != nil {
			return "", err
		}
		near[c] = true
	}
	for i := 0; i < 10; i++ {
		c := strings.Repeat(fmt.Sprint(i), key.Params.Digits)
		if !near[c] {
			return c, nil
		}
	}
	return "", errors.New("no wrong code found")
}

// showAudit prints the daemon's decisions about the demo user's logins.
func (d *demo) showAudit() {
	b, err := os.ReadFile(d.dLog)
	if err != nil {
		return
	}
	n := 0
	for _, l := range lines(string(b)) {
		if strings.Contains(l, "login.verify") && strings.Contains(l, `user="`+demoUser+`"`) {
			if n == 0 {
				d.say("totpd's audit of those logins:")
			}
			n++
			fmt.Printf("  totpd| %s\n", d.redact(l))
		}
	}
}

// expect waits for one of ss on t (see hostkit.Term.ExpectAny). When it
// does not come, it prints what the terminal showed (redacted, without
// the QR code's lines) and reports why.
func (d *demo) expect(t *hostkit.Term, name string, deadline time.Time, ss ...string) (int, error) {
	limit := d.bound(deadline)
	i, err := t.ExpectAny(limit, ss...)
	if err == nil {
		return i, nil
	}
	why := fmt.Sprintf("not within %v", limit)
	if errors.Is(err, hostkit.ErrExited) {
		why = "it ended first"
	}
	d.showScreen(t, name)
	return -1, fmt.Errorf("%s did not show %q (%s)", name, ss, why)
}

// showScreen prints what the terminal showed, redacted, without the QR
// code's lines.
func (d *demo) showScreen(t *hostkit.Term, name string) {
	fmt.Fprintf(os.Stderr, "demo: the terminal of %s showed:\n", name)
	for _, l := range lines(t.Output()) {
		if !strings.ContainsAny(l, "\u2580\u2584\u2588") {
			fmt.Fprintf(os.Stderr, "  %s| %s\n", name, d.redact(l))
		}
	}
}

func quoteArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " $()'\"") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}
