package main

/*
#cgo LDFLAGS: -lpam
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <security/pam_appl.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

// totpd_conv asks the application's conversation function one question
// (or shows one message). On success *answer is the reply, malloc'ed,
// or NULL; the caller wipes and frees it with totpd_free_answer.
static int totpd_conv(pam_handle_t *pamh, int style, const char *text, char **answer)
{
	const struct pam_conv *conv = NULL;
	struct pam_message msg;
	const struct pam_message *msgs[1];
	struct pam_response *resp = NULL;
	int r;

	*answer = NULL;
	r = pam_get_item(pamh, PAM_CONV, (const void **)&conv);
	if (r != PAM_SUCCESS)
		return r;
	if (conv == NULL || conv->conv == NULL)
		return PAM_CONV_ERR;
	msg.msg_style = style;
	msg.msg = text;
	msgs[0] = &msg;
	r = conv->conv(1, msgs, &resp, conv->appdata_ptr);
	// A conversation that prints to a buffered stdout (pamtester's, into a
	// pipe) must show each message before the next question, not when this
	// disposable process ends.
	fflush(stdout);
	if (resp != NULL) {
		if (r == PAM_SUCCESS)
			*answer = resp[0].resp;
		else if (resp[0].resp != NULL) {
			explicit_bzero(resp[0].resp, strlen(resp[0].resp));
			free(resp[0].resp);
		}
		free(resp);
	}
	return r;
}

static void totpd_free_answer(char *answer)
{
	if (answer != NULL) {
		explicit_bzero(answer, strlen(answer));
		free(answer);
	}
}

static int totpd_get_user(pam_handle_t *pamh, const char **user)
{
	return pam_get_user(pamh, user, NULL);
}

static const char *totpd_get_string(pam_handle_t *pamh, int item)
{
	const void *v = NULL;
	if (pam_get_item(pamh, item, &v) != PAM_SUCCESS)
		return NULL;
	return (const char *)v;
}

// pam_syslog is variadic, which cgo cannot call.
static void totpd_syslog(pam_handle_t *pamh, int prio, const char *line)
{
	pam_syslog(pamh, prio, "%s", line);
}
*/
import "C"

import (
	"strings"
	"unsafe"
)

// PAM results, as Linux-PAM numbers them.
const (
	pamSuccess         = C.PAM_SUCCESS
	pamAuthErr         = C.PAM_AUTH_ERR
	pamIgnore          = C.PAM_IGNORE
	pamAuthinfoUnavail = C.PAM_AUTHINFO_UNAVAIL
	pamUserUnknown     = C.PAM_USER_UNKNOWN
	pamMaxTries        = C.PAM_MAXTRIES
	pamConvErr         = C.PAM_CONV_ERR
	pamServiceErr      = C.PAM_SERVICE_ERR
	pamSilent          = C.PAM_SILENT
)

// syslog priorities for host.Log.
const (
	logErr     = C.LOG_ERR
	logWarning = C.LOG_WARNING
	logInfo    = C.LOG_INFO
	logDebug   = C.LOG_DEBUG
)

// maxMessage is Linux-PAM's PAM_MAX_MSG_SIZE: some conversation functions
// refuse longer messages, so long texts go out in pieces of whole lines.
const maxMessage = C.PAM_MAX_MSG_SIZE

// maxResponse is Linux-PAM's PAM_MAX_RESP_SIZE, the NUL included.
const maxResponse = C.PAM_MAX_RESP_SIZE

// host is everything the login flow needs from PAM. pamHost implements
// it on a real handle; the tests implement it with a script.
type host interface {
	// User reports the user being authenticated (PAM may ask for it).
	User() (string, int)
	// Service, RHost and TTY describe the login; empty when unknown.
	Service() string
	RHost() string
	TTY() string
	// Env reports a variable of the PAM environment (pam_getenv); "" when unset.
	Env(name string) string
	// Prompt asks a question, echoing the answer or not.
	Prompt(text string, echo bool) (string, int)
	// Message shows a line as PAM_TEXT_INFO, or PAM_ERROR_MSG if isError.
	Message(text string, isError bool) int
	// Log writes a line to syslog (LOG_AUTHPRIV).
	Log(prio int, line string)
	// SetAuthtok sets PAM_AUTHTOK for the modules after this one
	// (forward_pass).
	SetAuthtok(tok string) int
}

// pamHost is the PAM conversation in one place: every question and every
// message the module shows goes through its methods. It is only ever used
// from the goroutine of the exported call, which runs on the host's thread.
type pamHost struct {
	pamh *C.pam_handle_t
}

func (h pamHost) User() (string, int) {
	var user *C.char
	if r := C.totpd_get_user(h.pamh, &user); r != C.PAM_SUCCESS {
		return "", int(r)
	}
	if user == nil {
		return "", pamUserUnknown
	}
	return C.GoString(user), pamSuccess
}

func (h pamHost) item(item C.int) string {
	s := C.totpd_get_string(h.pamh, item)
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

func (h pamHost) Service() string { return h.item(C.PAM_SERVICE) }
func (h pamHost) RHost() string   { return h.item(C.PAM_RHOST) }
func (h pamHost) TTY() string     { return h.item(C.PAM_TTY) }

func (h pamHost) Env(name string) string {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	v := C.pam_getenv(h.pamh, cname)
	if v == nil {
		return ""
	}
	return C.GoString(v)
}

func (h pamHost) conv(style C.int, text string) (string, int) {
	ctext := C.CString(text)
	defer C.free(unsafe.Pointer(ctext))
	var answer *C.char
	r := C.totpd_conv(h.pamh, style, ctext, &answer)
	// The copy in Go memory is not wiped, but this process is a disposable
	// child that exits as soon as the login is decided.
	defer C.totpd_free_answer(answer)
	if r != C.PAM_SUCCESS {
		return "", int(r)
	}
	if answer == nil {
		return "", pamSuccess
	}
	return C.GoString(answer), pamSuccess
}

func (h pamHost) Prompt(text string, echo bool) (string, int) {
	style := C.int(C.PAM_PROMPT_ECHO_OFF)
	if echo {
		style = C.PAM_PROMPT_ECHO_ON
	}
	return h.conv(style, text)
}

func (h pamHost) Message(text string, isError bool) int {
	style := C.int(C.PAM_TEXT_INFO)
	if isError {
		style = C.PAM_ERROR_MSG
	}
	for _, part := range splitMessage(text, maxMessage) {
		if _, r := h.conv(style, part); r != pamSuccess {
			return r
		}
	}
	return pamSuccess
}

// SetAuthtok keeps tok for the loader, which asks for it with
// totpd_go_authtok once the authentication returns and sets PAM_AUTHTOK
// on the host's handle: a pam_set_item here, in the loader's child,
// would die with the child.
func (h pamHost) SetAuthtok(tok string) int {
	if len(tok) > maxResponse-1 || strings.IndexByte(tok, 0) >= 0 {
		return pamServiceErr
	}
	handoff = tok
	return pamSuccess
}

func (h pamHost) Log(prio int, line string) {
	cline := C.CString(line)
	defer C.free(unsafe.Pointer(cline))
	C.totpd_syslog(h.pamh, C.int(prio), cline)
}

// splitMessage cuts text into pieces of at most max bytes (less one for
// the NUL), breaking between lines. A single line longer than that is
// sent whole: cutting it would garble it more than a strict host would.
func splitMessage(text string, max int) []string {
	max--
	if len(text) <= max {
		return []string{text}
	}
	var parts []string
	var cur strings.Builder
	lines := 0 // in cur
	for _, line := range strings.Split(text, "\n") {
		if lines > 0 && cur.Len()+1+len(line) > max {
			parts = append(parts, cur.String())
			cur.Reset()
			lines = 0
		}
		if lines > 0 {
			cur.WriteByte('\n')
		}
		cur.WriteString(line)
		lines++
	}
	return append(parts, cur.String())
}
