// Command pam_totpd_go is the Go half of the totpd PAM module, built with
// -buildmode=c-shared as pam_totpd_go.so. PAM never loads it directly:
// the C loader pam_totpd.so (loader/pam_totpd.c) forks a disposable child
// for each authentication and loads it there, so the Go runtime never
// lives in the host process (ARCHITECTURE.md, "The host matrix").
//
// Arguments, as written after the module in a PAM service file:
//
//	socket=PATH     the daemon's socket (default /run/totpd/totpd.sock)
//	timeout=SECONDS bound on the whole exchange with the daemon, all calls
//	                of one authentication together (default 10)
//	prompt=TEXT     the code prompt (default "Verification code: ";
//	                write [prompt=Your code: ] for text with spaces)
//	debug           log each step to syslog (never a code)
//	forward_pass    one prompt for password and code; the code is taken
//	                off the end, the password handed on as PAM_AUTHTOK
//	                (forward.go; prompt= then replaces that prompt)
package main

/*
#include <security/pam_modules.h>
*/
import "C"

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/totpd/totpd/daemon/client"
)

// main is required by -buildmode=c-shared and never runs.
func main() {}

// Defaults of the module arguments.
const (
	defaultTimeout = 10 * time.Second
	defaultPrompt  = "Verification code: "
	maxTimeout     = 300 * time.Second
)

// options are the module arguments.
type options struct {
	socket  string
	timeout time.Duration
	prompt  string
	debug   bool
	silent  bool // PAM_SILENT: no informational messages
	// forwardPass: password and code at one prompt (forward.go).
	forwardPass bool
	// serverUID is the uid the daemon must run as (its SO_PEERCRED); no
	// module argument sets it, so it is always 0, root, except in tests
	// whose fake daemon runs as the test's user.
	serverUID int
}

// totpd_go_authenticate is pam_sm_authenticate, called by the loader in
// its child. It returns a PAM result; the loader only passes on the ones
// it expects.
//
//export totpd_go_authenticate
func totpd_go_authenticate(pamh *C.pam_handle_t, flags C.int, argc C.int, argv **C.char) C.int {
	h := pamHost{pamh: pamh}
	var args []string
	if argc > 0 && argv != nil {
		for _, a := range unsafe.Slice(argv, int(argc)) {
			args = append(args, C.GoString(a))
		}
	}
	o := parseArgs(args, func(s string) { h.Log(logWarning, s) })
	o.silent = flags&pamSilent != 0
	return C.int(authenticate(h, o))
}

// handoff is the password forward_pass hands on (pamHost.SetAuthtok).
var handoff string

// totpd_go_authtok reports, after totpd_go_authenticate, the password to
// set as PAM_AUTHTOK in the host (malloc'ed; the loader wipes and frees
// it), or NULL for none.
//
//export totpd_go_authtok
func totpd_go_authtok() *C.char {
	if handoff == "" {
		return nil
	}
	return C.CString(handoff)
}

// parseArgs reads the module arguments. A bad or unknown argument is
// logged and ignored, never fatal: a typo in a PAM file must not lock
// everybody out, and every choice left at its default is a safe one.
func parseArgs(args []string, warn func(string)) options {
	// The socket is never taken from $TOTPD_SOCKET: the environment
	// belongs to whoever runs su or sudo, who could point it at a daemon
	// of their own that says yes.
	o := options{socket: client.DefaultSocket, timeout: defaultTimeout, prompt: defaultPrompt}
	promptSet := false
	for _, a := range args {
		key, val, hasVal := strings.Cut(a, "=")
		switch {
		case key == "debug" && !hasVal:
			o.debug = true
		case key == "socket" && hasVal && strings.HasPrefix(val, "/"):
			o.socket = val
		case key == "timeout" && hasVal:
			n, err := strconv.ParseFloat(val, 64)
			d := time.Duration(n * float64(time.Second))
			if err != nil || d <= 0 || d > maxTimeout {
				warn(fmt.Sprintf("ignoring %q: timeout must be a number of seconds from 0 to %d; using %d", a, int(maxTimeout.Seconds()), int(defaultTimeout.Seconds())))
				continue
			}
			o.timeout = d
		case key == "prompt" && hasVal && val != "":
			o.prompt, promptSet = val, true
		case key == "forward_pass" && !hasVal:
			o.forwardPass = true
		default:
			warn(fmt.Sprintf("ignoring unknown or malformed argument %q", a))
		}
	}
	if o.forwardPass && !promptSet {
		o.prompt = defaultForwardPrompt
	}
	return o
}
