package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/qrterm"
	"github.com/totpd/totpd/daemon/wire"
)

// opts holds every flag; each command's flag set defines the global ones
// and its own, so global flags work before and after the command.
type opts struct {
	socket  string
	json    bool
	timeout time.Duration
	qr      string
	qrPNG   string
	code    string
	grace   string
	// the admin tools' options
	pamDir     string // doctor --pam-dir
	sshdConfig string // doctor --sshd-config
	homes      bool   // import google-authenticator --homes
	dryRun     bool   // import --dry-run
}

// command is one totpctl command.
type command struct {
	path    string // "user check"
	args    string // "NAME CODE", for usage lines
	minArgs int
	maxArgs int
	// synopsis is the overview's left column when path+args is not enough.
	synopsis string
	summary  string
	help     string // paragraphs after the usage line
	admin    bool
	rootOnly bool // an admin command for root alone (restore)
	flags    func(fs *flag.FlagSet, o *opts)
	run      func(c *cmdCtx, args []string) error
}

// cmdCtx is what a running command has at hand.
type cmdCtx struct {
	ctx context.Context
	e   *env
	o   *opts
	cmd *command
	cl  caller
}

func (c *cmdCtx) out() io.Writer { return c.e.stdout }
func (c *cmdCtx) now() time.Time { return c.e.now() }

// call sends req to the daemon. A refusal comes back as a *wire.Error
// (exit 1); the daemon's extra messages, if any, go to stderr with it.
func (c *cmdCtx) call(req wire.Request) (*wire.Response, error) {
	if c.cl == nil {
		c.cl = c.e.dial(client.ResolveSocket(c.o.socket, c.e.euid()), c.o.timeout)
	}
	resp, err := c.cl.Call(c.ctx, req)
	if err != nil {
		var we *wire.Error
		if errors.As(err, &we) && resp != nil {
			// The refusal itself is printed by report; extra lines follow it.
			return resp, &refusal{err: we, messages: resp.Messages}
		}
		return resp, err
	}
	if resp == nil {
		return nil, errors.New("the daemon sent no answer")
	}
	return resp, nil
}

// refusal is a *wire.Error with the daemon's messages to show after it.
type refusal struct {
	err      *wire.Error
	messages []wire.Message
}

func (r *refusal) Error() string { return r.err.Message }
func (r *refusal) Unwrap() error { return r.err }

// printMessages writes the daemon's messages for people: errors to
// stderr, the rest to w. It reports whether there were any.
func printMessages(w, stderr io.Writer, msgs []wire.Message) bool {
	for _, m := range msgs {
		if m.Error {
			fmt.Fprintln(stderr, "totpctl: "+strings.TrimSpace(m.Text))
		} else {
			fmt.Fprintln(w, strings.TrimSpace(m.Text))
		}
	}
	return len(msgs) > 0
}

func globalFlags(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.socket, "socket", o.socket, "daemon socket `PATH`")
	fs.BoolVar(&o.json, "json", o.json, "machine-readable output")
	// A duration as the configuration writes one (config.ParseDuration),
	// like --grace: one syntax for every duration totpd takes.
	fs.TextVar((*config.Duration)(&o.timeout), "timeout", config.Duration(o.timeout), "bound on each call to the daemon")
}

func qrFlag(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.qr, "qr", o.qr, "QR code style: none, ansi or utf8")
}

func codeFlag(fs *flag.FlagSet, o *opts) {
	fs.StringVar(&o.code, "code", o.code, "a current code or a recovery code (visible to every user: better typed when asked)")
}

var commands []*command

func init() {
	commands = []*command{
		{
			path:    "enroll",
			summary: "set up your authenticator app (the wizard)",
			help: `The wizard: shows a QR code to scan with an authenticator app (Google
Authenticator, Microsoft Authenticator, Aegis, FreeOTP, 1Password ...), the
key grouped by four for typing by hand and the otpauth:// URI; then asks for
the codes the app shows to prove it works, and shows your recovery codes
once. Codes are read without echo when stdin is a terminal.

  --qr utf8   half blocks, fits 80 columns (default; drawn for a dark
              terminal background: use --qr ansi if your terminal is light)
  --qr ansi   explicit black and white colours, twice as wide, no UTF-8
  --qr none   no QR code: type the key instead`,
			flags: func(fs *flag.FlagSet, o *opts) { qrFlag(fs, o) },
			run:   runEnrollWizard,
		},
		{
			path:    "enroll begin",
			summary: "start an enrollment: key, URI, QR code",
			help: `Starts an enrollment and prints the new key, its otpauth:// URI and a QR
code (see 'totpctl enroll --help' for --qr). Nothing changes for your logins
until 'totpctl enroll confirm' succeeds.
JSON: {"user", "secret", "uri", "confirm_codes"}.`,
			flags: func(fs *flag.FlagSet, o *opts) { qrFlag(fs, o) },
			run:   runEnrollBegin,
		},
		{
			path:    "enroll confirm",
			args:    "[CODE [CODE2]]",
			maxArgs: 2,
			summary: "finish it; shows the recovery codes",
			help: `Activates the pending enrollment with the code the app shows now (and the
next one when the daemon asks for two consecutive codes), then prints the
recovery codes once. JSON: {"user", "recovery_codes"}.

The codes are asked for without echo on a terminal, or read from one line
of stdin (two codes separated by a space): echo CODE | totpctl enroll
confirm --json. Codes given as arguments still work, with a warning: every
user of the host can read a command line (ps, /proc) while its code is valid.`,
			run: runEnrollConfirm,
		},
		{
			path:    "status",
			summary: "your enrollment, lockout, clock drift",
			help: `Shows whether you are enrolled and required, your deadline, whether you are
locked out, how many recovery codes are left, the server's time and the
clock drift recorded for your phone (useful when codes are not accepted).`,
			run: runStatus,
		},
		{
			path:    "disable",
			summary: "remove your secret (asks for a code)",
			help: `Removes your TOTP secret. Needs a current code or a recovery code; refused
while the policy requires you.

The code is asked for without echo on a terminal, or read from one line of
stdin: echo CODE | totpctl disable. --code CODE still works, with a
warning: every user of the host can read a command line (ps, /proc) while
its code is valid.`,
			flags: func(fs *flag.FlagSet, o *opts) { codeFlag(fs, o) },
			run:   runDisable,
		},
		{
			path:    "recovery-codes",
			summary: "new recovery codes, the old ones void",
			help: `Replaces your recovery codes and prints the new set once. Needs a current
code or a recovery code. JSON: {"recovery_codes"}.

The code is asked for without echo on a terminal, or read from one line of
stdin: echo CODE | totpctl recovery-codes --json. --code CODE still works,
with a warning: every user of the host can read a command line (ps, /proc)
while its code is valid.`,
			flags: func(fs *flag.FlagSet, o *opts) { codeFlag(fs, o) },
			run:   runRecoveryCodes,
		},
		{
			path:    "users",
			admin:   true,
			summary: "one line per user",
			help: `Lists every user totpd knows, one line each: USER ENROLLED REQUIRED DEADLINE
LOCKED FAILURES LAST LOGIN, times in local time. JSON: an array of
{"user", "enrolled", "required", "deadline", "locked", "locked_until",
"failures", "last_success"}, times in RFC 3339 or null.`,
			run: runUsers,
		},
		{
			path: "user show", args: "NAME", minArgs: 1, maxArgs: 1, admin: true,
			summary: "everything about one user",
			run:     runUserShow,
		},
		{
			path: "user enroll", args: "NAME", minArgs: 1, maxArgs: 1, admin: true,
			summary: "enroll a user, to hand over", synopsis: "user enroll NAME [--qr-png F]",
			help: `Makes a new secret for NAME, active at once, and prints the key, URI, QR
code and recovery codes to hand to the user. --qr-png FILE also writes the
QR code as a PNG image (mode 0600: it holds the secret).
JSON: {"user", "secret", "uri", "recovery_codes"}.`,
			flags: func(fs *flag.FlagSet, o *opts) {
				qrFlag(fs, o)
				fs.StringVar(&o.qrPNG, "qr-png", o.qrPNG, "also write the QR code as a PNG to `FILE`")
			},
			run: runUserEnroll,
		},
		{
			path: "user disable", args: "NAME", minArgs: 1, maxArgs: 1, admin: true,
			summary: "lost phone: remove secret, restart grace",
			run:     runUserAction(wire.OpUserDisable, "%s's secret is removed; the grace period starts again."),
		},
		{
			path: "user unlock", args: "NAME", minArgs: 1, maxArgs: 1, admin: true,
			summary: "end a lockout",
			run:     runUserAction(wire.OpUserUnlock, "%s is unlocked."),
		},
		{
			path: "user check", args: "NAME [CODE]", minArgs: 1, maxArgs: 2, admin: true,
			summary: "is a code valid now, or at a nearby time?",
			help: `Tells whether a code of NAME's app is valid now and, if not, whether it
matches a time within ±10 minutes, which shows how far off the phone's clock
is. The code is not used up and no failure is counted. Exit 0 if valid now,
1 if not. JSON: {"user", "valid", "drift_steps", "drift_seconds"}, drift
null when the code matches no nearby time.

The code is asked for without echo on a terminal, or read from one line of
stdin: echo CODE | totpctl user check NAME. A CODE argument still works,
with a warning: every user of the host can read a command line (ps, /proc)
while its code is valid.`,
			run: runUserCheck,
		},
		{
			path: "user require", args: "NAME", minArgs: 1, maxArgs: 1, admin: true,
			summary: "require TOTP whatever the policy says", synopsis: "user require NAME [--grace D]",
			help: `Requires TOTP for NAME, overriding the policy. --grace DURATION (s, m, h, d:
"7d", "12h") sets the time to enroll; the default is the configured
grace_period.`,
			flags: func(fs *flag.FlagSet, o *opts) {
				fs.StringVar(&o.grace, "grace", o.grace, "time to enroll, e.g. 7d or 12h")
			},
			run: runUserRequire,
		},
		{
			path: "user exempt", args: "NAME", minArgs: 1, maxArgs: 1, admin: true,
			summary: "exempt from TOTP whatever the policy",
			run:     runUserAction(wire.OpUserExempt, "%s is exempt from TOTP."),
		},
		{
			path: "user forget", args: "NAME", minArgs: 1, maxArgs: 1, admin: true,
			summary: "drop NAME's remembered logins",
			help: `Drops NAME's remembered logins ([policy] remember): the next login of NAME
from anywhere asks for a code. JSON: {"user", "forgotten"}, the number of
remembered logins that were still standing.`,
			run: runUserForget,
		},
		// The admin tools, each defined in a file of its own.
		doctorCmd, importGACmd, importOathCmd, backupCmd, restoreCmd, metricsCmd, clusterStatusCmd,
		{
			path: "help", args: "[COMMAND]", maxArgs: 2,
			summary: "show this help, or a command's",
		},
	}
}

// usageLine reports "totpctl user check NAME CODE [--json]" and the like.
func (c *command) usageLine() string {
	parts := []string{"totpctl", c.path}
	if c.args != "" {
		parts = append(parts, c.args)
	}
	fs := c.flagSet(&opts{})
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "socket", "timeout":
			return
		case "json":
			if c.path == "enroll" || c.path == "help" || c.path == "metrics" {
				return
			}
		}
		name, _ := flag.UnquoteUsage(f)
		switch {
		case f.Name == "code":
			name = "CODE"
		case f.Name == "qr":
			name = "none|ansi|utf8"
		case f.Name == "grace":
			name = "DURATION"
		}
		if name == "" {
			parts = append(parts, "[--"+f.Name+"]")
		} else {
			parts = append(parts, "[--"+f.Name+" "+name+"]")
		}
	})
	return strings.Join(parts, " ")
}

func (c *command) flagSet(o *opts) *flag.FlagSet {
	fs := flag.NewFlagSet("totpctl "+c.path, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	globalFlags(fs, o)
	if c.flags != nil {
		c.flags(fs, o)
	}
	return fs
}

func (c *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n\n", c.usageLine())
	if c.help != "" {
		fmt.Fprintln(w, c.help)
	} else {
		fmt.Fprintln(w, upperFirst(c.summary)+".")
	}
	if c.rootOnly {
		fmt.Fprintln(w, "\nFor root only.")
	} else if c.admin {
		fmt.Fprintln(w, "\nFor root and members of admin_group.")
	}
	fmt.Fprintln(w, "\nGlobal options: --socket PATH, --json, --timeout DURATION (see 'totpctl help').")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

const usageHead = `Usage: totpctl [--socket PATH] [--json] [--timeout DURATION] COMMAND [ARGS]

totpctl sets up and manages totpd's verification codes (TOTP, the six-digit
codes of authenticator apps) for Linux logins.
`

const usageTail = `
Global options (before or after the command):
  --socket PATH        the daemon's socket (default $TOTPD_SOCKET, else
                       /run/totpd/totpd.sock; run as root, totpctl ignores
                       $TOTPD_SOCKET and only --socket changes it)
  --json               machine-readable output (times in RFC 3339)
  --timeout DURATION   bound on each call to the daemon (default 10s)

Exit status: 0 ok, 1 refused or failed, 2 usage, 3 daemon unreachable
(and 4 for 'cluster status' when this host is offline).
Run 'totpctl help COMMAND' or 'totpctl COMMAND --help' for details.
`

func printUsage(w io.Writer) {
	fmt.Fprint(w, usageHead)
	section := func(title string, admin bool) {
		fmt.Fprintf(w, "\n%s\n", title)
		for _, c := range commands {
			if c.admin != admin || c.path == "help" {
				continue
			}
			name := c.synopsis
			if name == "" {
				name = strings.TrimSpace(c.path + " " + c.args)
			}
			fmt.Fprintf(w, "  %-30s %s\n", name, c.summary)
		}
	}
	section("For your own account:", false)
	section("For admins (root or admin_group):", true)
	fmt.Fprint(w, usageTail)
}

// lookup finds the command named by the first words of args and reports
// it with the words it used.
func lookup(args []string) (*command, int) {
	var best *command
	used := 0
	for _, c := range commands {
		words := strings.Fields(c.path)
		if len(words) > len(args) || len(words) <= used {
			continue
		}
		match := true
		for i, w := range words {
			if args[i] != w {
				match = false
				break
			}
		}
		if match {
			best, used = c, len(words)
		}
	}
	return best, used
}

// parseInterspersed parses flags anywhere among the positional arguments
// (stdlib flag stops at the first one). "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// flagError turns a flag package error into a usage message. The flag
// package quotes bad values only for typed flags (--timeout, --json),
// never for --code, so no code typed by the user is echoed.
func flagError(err error) string {
	msg := err.Error()
	msg = strings.Replace(msg, "flag provided but not defined: -", "unknown option --", 1)
	msg = strings.Replace(msg, "flag needs an argument: -", "option needs a value: --", 1)
	msg = strings.Replace(msg, " for flag -", " for option --", 1)
	return msg
}

func dispatch(args []string, e *env) error {
	o := &opts{qr: qrterm.UTF8}
	gfs := flag.NewFlagSet("totpctl", flag.ContinueOnError)
	gfs.SetOutput(io.Discard)
	gfs.Usage = func() {}
	globalFlags(gfs, o)
	if err := gfs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(e.stdout)
			return nil
		}
		return usageErrorf("%s", flagError(err))
	}
	rest := gfs.Args()
	if len(rest) == 0 {
		return usageErrorf("no command given")
	}
	cmd, used := lookup(rest)
	if cmd == nil {
		if rest[0] == "user" {
			if len(rest) == 1 {
				return usageErrorf("'user' needs a subcommand: show, enroll, disable, unlock, check, require, exempt or forget")
			}
			return usageErrorf("unknown user subcommand%s", quoteWord(rest[1]))
		}
		if rest[0] == "cluster" {
			if len(rest) == 1 {
				return usageErrorf("'cluster' needs a subcommand: status")
			}
			return usageErrorf("unknown cluster subcommand%s", quoteWord(rest[1]))
		}
		return usageErrorf("unknown command%s", quoteWord(rest[0]))
	}
	fs := cmd.flagSet(o)
	pos, err := parseInterspersed(fs, rest[used:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			cmd.printHelp(e.stdout)
			return nil
		}
		return &usageError{msg: flagError(err), hint: cmd.path}
	}
	if cmd.path == "help" {
		return runHelp(e, pos)
	}
	if len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs {
		// The arguments are not repeated: one of them may be a code.
		what := "no arguments"
		if cmd.args != "" {
			what = cmd.args
		}
		return &usageError{msg: fmt.Sprintf("%s takes %s", cmd.path, what), hint: cmd.path}
	}
	if qrterm.CheckStyle(o.qr) != nil {
		return &usageError{msg: "--qr must be none, utf8 or ansi", hint: cmd.path}
	}
	c := &cmdCtx{ctx: context.Background(), e: e, o: o, cmd: cmd}
	return cmd.run(c, pos)
}

func runHelp(e *env, words []string) error {
	if len(words) == 0 {
		printUsage(e.stdout)
		return nil
	}
	cmd, used := lookup(words)
	if cmd == nil || used != len(words) {
		return usageErrorf("no help for%s", quoteWord(strings.Join(words, " ")))
	}
	if cmd.path == "help" {
		printUsage(e.stdout)
		return nil
	}
	cmd.printHelp(e.stdout)
	return nil
}

// quoteWord reports ` "word"` for an unknown command word that looks like
// one, and nothing otherwise: a mistyped code must not be echoed.
func quoteWord(w string) string {
	if len(w) == 0 || len(w) > 30 {
		return ""
	}
	for _, r := range w {
		if !(r >= 'a' && r <= 'z' || r == '-' || r == ' ') {
			return ""
		}
	}
	return fmt.Sprintf(" %q", w)
}
