package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/totpd/totpd/daemon/enrolltext"
	"github.com/totpd/totpd/daemon/qrterm"
	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/totp"
)

// maxConfirmAttempts bounds how often the wizard asks again after the
// daemon refused the codes.
const maxConfirmAttempts = 3

// maxBadInput bounds how often the wizard re-asks for a code that is not
// digits of the right length (the daemon never sees those).
const maxBadInput = 5

// enrollmentJSON is `enroll begin --json`.
type enrollmentJSON struct {
	User         string `json:"user"`
	Secret       string `json:"secret"`
	URI          string `json:"uri"`
	ConfirmCodes int    `json:"confirm_codes"`
}

// recoveryJSON is `enroll confirm --json` and `recovery-codes --json`.
type recoveryJSON struct {
	User          string   `json:"user,omitempty"`
	RecoveryCodes []string `json:"recovery_codes"`
}

// okJSON is what commands that only act print with --json.
type okJSON struct {
	OK bool `json:"ok"`
}

func confirmCount(enr *wire.Enrollment) int {
	if enr.ConfirmCodes < 1 {
		return 1
	}
	return enr.ConfirmCodes
}

// printEnrollment shows a key to add to an app: the QR code drawn in
// style (qrterm.None draws none), then the account, key and URI, as
// enrolltext.Terminal lays them out.
func printEnrollment(w io.Writer, enr *wire.Enrollment, style string) error {
	var qr strings.Builder
	if err := qrterm.Render(&qr, enr.URI, style); err != nil {
		return err
	}
	_, err := io.WriteString(w, enrolltext.Terminal(enr.Secret, enr.URI, qr.String()))
	return err
}

// printRecoveryCodes shows recovery codes once, with what to do with them.
func printRecoveryCodes(w io.Writer, codes []string) {
	io.WriteString(w, enrolltext.RecoveryTerminal(codes))
}

// uriDigits reports the number of digits of the codes for a Key URI, or 0
// when the URI cannot be read.
func uriDigits(uri string) int {
	k, err := totp.ParseURI(uri)
	if err != nil {
		return 0
	}
	return k.Params.Digits
}

// splitCodes reads the codes of one line: "123456 654321" is two codes
// when every word is one, otherwise the line is a single code whose
// spaces the app put there ("123 456").
func splitCodes(line string) []string {
	words := strings.Fields(line)
	for _, w := range words {
		if !plausibleCode(w, 0) {
			return []string{normalizeCode(line)}
		}
	}
	return words
}

// normalizeCode removes the spaces apps put inside codes ("123 456").
func normalizeCode(s string) string {
	return strings.Join(strings.Fields(s), "")
}

// plausibleCode reports whether s looks like a TOTP code of digits digits
// (6 to 8 when unknown).
func plausibleCode(s string, digits int) bool {
	if digits > 0 && len(s) != digits {
		return false
	}
	if len(s) < 6 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func runEnrollWizard(c *cmdCtx, _ []string) error {
	if c.o.json {
		return &usageError{msg: "the enroll wizard has no --json; use 'enroll begin --json' and 'enroll confirm --json'", hint: "enroll"}
	}
	w := c.out()
	resp, err := c.call(wire.Request{Op: wire.OpEnrollBegin})
	if err != nil {
		return err
	}
	enr := resp.Enrollment
	if enr == nil || enr.Secret == "" || enr.URI == "" {
		return errors.New("the daemon sent no enrollment")
	}
	printMessages(w, c.e.stderr, resp.Messages)
	if err := printEnrollment(w, enr, c.o.qr); err != nil {
		return err
	}
	digits := uriDigits(enr.URI)
	n := confirmCount(enr)
	fmt.Fprintln(w)
	if n == 1 {
		fmt.Fprintln(w, "Then type the code the app shows for this account.")
	} else {
		fmt.Fprintf(w, "Then type %d consecutive codes: the one the app shows now, then wait\nfor it to change and type the next.\n", n)
	}
	for attempt := 1; ; attempt++ {
		codes := make([]string, 0, n)
		for i := 1; i <= n; i++ {
			code, err := askCode(c, i, n, digits)
			if err != nil {
				return err
			}
			codes = append(codes, code)
		}
		resp, err := c.call(wire.Request{Op: wire.OpEnrollConfirm, Codes: codes})
		if err == nil {
			enr := resp.Enrollment
			fmt.Fprintln(w)
			if !printMessages(w, c.e.stderr, resp.Messages) {
				fmt.Fprintln(w, "Enrollment confirmed: your logins now ask for a code from the app.")
			}
			if enr != nil && len(enr.RecoveryCodes) > 0 {
				fmt.Fprintln(w)
				printRecoveryCodes(w, enr.RecoveryCodes)
			}
			return nil
		}
		var rf *refusal
		if attempt < maxConfirmAttempts && errors.As(err, &rf) && rf.err.Code == wire.ErrCodeDenied {
			fmt.Fprintf(c.e.stderr, "totpctl: %s\n", strings.TrimSpace(rf.err.Message))
			for _, m := range rf.messages {
				fmt.Fprintf(c.e.stderr, "totpctl: %s\n", strings.TrimSpace(m.Text))
			}
			fmt.Fprintln(w, "Check the account in the app and the phone's clock, then try again with the code shown now.")
			continue
		}
		return err
	}
}

// askCode prompts for code i of n until it looks like a code. What was
// typed is never repeated.
func askCode(c *cmdCtx, i, n, digits int) (string, error) {
	prompt := "Code: "
	if n > 1 {
		prompt = fmt.Sprintf("Code %d of %d: ", i, n)
	}
	want := "6 to 8 digits"
	if digits > 0 {
		want = fmt.Sprintf("%d digits", digits)
	}
	for bad := 0; ; bad++ {
		line, err := c.e.readCode(prompt)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", errors.New("no code given: enrollment not confirmed (run 'totpctl enroll' again, or 'totpctl enroll confirm')")
			}
			return "", fmt.Errorf("reading the code: %w", err)
		}
		code := normalizeCode(line)
		if plausibleCode(code, digits) {
			return code, nil
		}
		if bad+1 >= maxBadInput {
			return "", errors.New("no valid code given: enrollment not confirmed")
		}
		fmt.Fprintf(c.out(), "That is not a code: the app shows %s. Try again.\n", want)
	}
}

func runEnrollBegin(c *cmdCtx, _ []string) error {
	resp, err := c.call(wire.Request{Op: wire.OpEnrollBegin})
	if err != nil {
		return err
	}
	enr := resp.Enrollment
	if enr == nil || enr.Secret == "" || enr.URI == "" {
		return errors.New("the daemon sent no enrollment")
	}
	if c.o.json {
		return writeJSON(c.out(), enrollmentJSON{
			User: enr.User, Secret: enr.Secret, URI: enr.URI, ConfirmCodes: confirmCount(enr),
		})
	}
	w := c.out()
	printMessages(w, c.e.stderr, resp.Messages)
	if err := printEnrollment(w, enr, c.o.qr); err != nil {
		return err
	}
	fmt.Fprintln(w)
	if confirmCount(enr) == 1 {
		fmt.Fprintln(w, "Then finish with 'totpctl enroll confirm' and type the code the app shows.")
	} else {
		fmt.Fprintln(w, "Then finish with 'totpctl enroll confirm' and type two consecutive codes,")
		fmt.Fprintln(w, "separated by a space: the one the app shows now, then the next.")
	}
	return nil
}

func runEnrollConfirm(c *cmdCtx, args []string) error {
	codes := make([]string, len(args))
	for i, a := range args {
		codes[i] = normalizeCode(a)
	}
	if len(codes) > 0 {
		warnCodeInArgs(c, "totpctl enroll confirm")
	} else {
		line, err := readCodeInput(c, "Code (or two consecutive codes, separated by a space): ", "the code the app shows", "totpctl enroll confirm")
		if err != nil {
			return err
		}
		codes = splitCodes(line)
	}
	resp, err := c.call(wire.Request{Op: wire.OpEnrollConfirm, Codes: codes})
	if err != nil {
		return err
	}
	var rc []string
	user := ""
	if resp.Enrollment != nil {
		rc = resp.Enrollment.RecoveryCodes
		user = resp.Enrollment.User
	}
	if c.o.json {
		return writeJSON(c.out(), recoveryJSON{User: user, RecoveryCodes: nonNil(rc)})
	}
	w := c.out()
	if !printMessages(w, c.e.stderr, resp.Messages) {
		fmt.Fprintln(w, "Enrollment confirmed: your logins now ask for a code from the app.")
	}
	if len(rc) > 0 {
		fmt.Fprintln(w)
		printRecoveryCodes(w, rc)
	}
	return nil
}

// codeArg reports --code (with a warning that it is visible to every
// user), or else the code read by readCodeInput.
func codeArg(c *cmdCtx) (string, error) {
	if code := strings.TrimSpace(c.o.code); code != "" {
		warnCodeInArgs(c, "totpctl "+c.cmd.path)
		return code, nil
	}
	line, err := readCodeInput(c, "Current code or a recovery code: ", "a current code or a recovery code", "totpctl "+c.cmd.path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

// readCodeInput reports a line holding a code that is not on the command
// line, where every user of the host could read it (ps, /proc/PID/cmdline)
// while it is still valid: typed after prompt with echo off when stdin is
// a terminal, else the next line of stdin, with no prompt, for scripts
// (echo CODE | totpctl disable; echo is a shell builtin, so the code is
// in no process's arguments). what names the code and safe the command
// in the error when there is none.
func readCodeInput(c *cmdCtx, prompt, what, safe string) (string, error) {
	var line string
	var err error
	if c.e.stdinIsTerminal() {
		line, err = c.e.readSecret(prompt)
	} else {
		line, err = readLine(c.e.stdin)
	}
	switch {
	case errors.Is(err, io.EOF):
		return "", &usageError{msg: fmt.Sprintf("%s needs %s: type it when asked on a terminal, or give it on stdin: echo CODE | %s", c.cmd.path, what, safe), hint: c.cmd.path}
	case err != nil:
		return "", fmt.Errorf("reading the code: %w", err)
	case strings.TrimSpace(line) == "":
		return "", fmt.Errorf("no code given: nothing was done (run '%s' again and type the code)", safe)
	}
	return line, nil
}

// warnCodeInArgs tells, on one line of stderr, that a code given as an
// argument can be read by every user while it is valid, and the safe
// way: safe, which asks for the code or reads it from stdin.
func warnCodeInArgs(c *cmdCtx, safe string) {
	fmt.Fprintf(c.e.stderr, "totpctl: warning: a code on the command line can be read by every user of this host (ps, /proc) while it is valid; next time run '%s' and type the code, or pipe it: echo CODE | %s\n", safe, safe)
}

// callWithCode asks for the user's code (codeArg) and sends op with it.
func callWithCode(c *cmdCtx, op wire.Op) (*wire.Response, error) {
	code, err := codeArg(c)
	if err != nil {
		return nil, err
	}
	return c.call(wire.Request{Op: op, Code: code})
}

func runDisable(c *cmdCtx, _ []string) error {
	resp, err := callWithCode(c, wire.OpDisable)
	if err != nil {
		return err
	}
	if c.o.json {
		return writeJSON(c.out(), okJSON{OK: true})
	}
	if !printMessages(c.out(), c.e.stderr, resp.Messages) {
		fmt.Fprintln(c.out(), "Your TOTP secret is removed: logins no longer ask you for a code.")
	}
	return nil
}

func runRecoveryCodes(c *cmdCtx, _ []string) error {
	resp, err := callWithCode(c, wire.OpRecoveryCodes)
	if err != nil {
		return err
	}
	if resp.Enrollment == nil || len(resp.Enrollment.RecoveryCodes) == 0 {
		return errors.New("the daemon sent no recovery codes")
	}
	rc := resp.Enrollment.RecoveryCodes
	if c.o.json {
		return writeJSON(c.out(), recoveryJSON{RecoveryCodes: rc})
	}
	printMessages(c.out(), c.e.stderr, resp.Messages)
	fmt.Fprintln(c.out(), "New recovery codes; the old ones no longer work.")
	fmt.Fprintln(c.out())
	printRecoveryCodes(c.out(), rc)
	return nil
}

// nonNil makes an empty list print as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
