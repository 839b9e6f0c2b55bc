// Package doctor reads PAM service files and sshd's configuration the way
// libpam and sshd read them, and works out whether an enrolled user can
// get in without the code, or is asked for it after a factor already
// failed (totpctl(1), "doctor"). It runs nothing and changes nothing.
package doctor

import "strings"

// returnNames are libpam's return-value tokens, index = PAM_* value, in
// the order libpam matches them (pam_tokens.h, Linux-PAM 1.5).
var returnNames = [...]string{
	"success", "open_err", "symbol_err", "service_err", "system_err", "buf_err",
	"perm_denied", "auth_err", "cred_insufficient", "authinfo_unavail", "user_unknown",
	"maxtries", "new_authtok_reqd", "acct_expired", "session_err", "cred_unavail",
	"cred_expired", "cred_err", "no_module_data", "conv_err", "authtok_err",
	"authtok_recover_err", "authtok_lock_busy", "authtok_disable_aging", "try_again",
	"ignore", "abort", "authtok_expired", "module_unknown", "bad_item", "conv_again",
	"incomplete",
}

const numReturns = len(returnNames)

// PAM return values the evaluator names.
const (
	retSuccess         = 0
	retSystemErr       = 4
	retPermDenied      = 6 // PAM_MUST_FAIL_CODE: a broken line, a bad jump
	retAuthErr         = 7
	retCredInsuff      = 8
	retAuthinfoUnavail = 9
	retUserUnknown     = 10
	retMaxtries        = 11
	retNewAuthtokReqd  = 12
	retConvErr         = 19
	retIgnore          = 25
	retModuleUnknown   = 28
)

// Actions of a control, as libpam encodes them; a positive value is a jump.
const (
	actIgnore = 0
	actOK     = -1
	actDone   = -2
	actBad    = -3
	actDie    = -4
	actReset  = -5
	actUndef  = -6
)

var actionNames = [...]string{"ignore", "ok", "done", "bad", "die", "reset"}

// actions maps each return value to an action.
type actions [numReturns]int

func actionName(a int) string {
	if a > 0 {
		return "jump " + itoa(a)
	}
	if -a < len(actionNames) {
		return actionNames[-a]
	}
	return "undefined"
}

func retName(r int) string {
	if r >= 0 && r < numReturns {
		return returnNames[r]
	}
	return "invalid"
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

func undefActions() actions {
	var a actions
	for i := range a {
		a[i] = actUndef
	}
	return a
}

// setDefault gives every return value not yet set the action act, as
// _pam_set_default_control does.
func (a *actions) setDefault(act int) {
	for i := range a {
		if a[i] == actUndef {
			a[i] = act
		}
	}
}

// controlKind is what a control token asks for.
type controlKind int

const (
	ctlModule controlKind = iota
	ctlInclude
	ctlSubstack
)

// parseControlWord turns a control token into actions the way
// _pam_parse_conf_file does: the four keywords, include and substack
// (case-insensitive), or a [value=action ...] list. A list libpam cannot
// read makes every value bad, as in libpam; bad is the reason, for the report.
func parseControlWord(tok string) (a actions, kind controlKind, bad string) {
	a = undefActions()
	switch strings.ToLower(tok) {
	case "required":
		a[retSuccess], a[retNewAuthtokReqd], a[retIgnore] = actOK, actOK, actIgnore
		a.setDefault(actBad)
	case "requisite":
		a[retSuccess], a[retNewAuthtokReqd], a[retIgnore] = actOK, actOK, actIgnore
		a.setDefault(actDie)
	case "optional":
		a[retSuccess], a[retNewAuthtokReqd] = actOK, actOK
		a.setDefault(actIgnore)
	case "sufficient":
		a[retSuccess], a[retNewAuthtokReqd] = actDone, actDone
		a.setDefault(actIgnore)
	case "include":
		return a, ctlInclude, ""
	case "substack":
		return a, ctlSubstack, ""
	default:
		bad = parseControlList(&a, tok)
		a.setDefault(actBad)
	}
	return a, ctlModule, bad
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

// parseControlList reads "value=action ..." as _pam_parse_control does,
// prefix matching included ("successful=ok" reads as "success", then
// fails at "ful"). On an error every value becomes bad.
func parseControlList(a *actions, s string) (bad string) {
	i := 0
	if strings.TrimSpace(s) == "" {
		for r := range a {
			a[r] = actBad
		}
		return "an empty control"
	}
	fail := func(why string) string {
		for r := range a {
			a[r] = actBad
		}
		return why
	}
	for i < len(s) {
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			break
		}
		ret := -1
		for r := 0; r <= numReturns; r++ {
			name := "default"
			if r < numReturns {
				name = returnNames[r]
			}
			if strings.HasPrefix(s[i:], name) {
				ret = r
				i += len(name)
				break
			}
		}
		if ret < 0 || i == len(s) {
			return fail("expecting a return value (success, auth_err, ignore, default ...)")
		}
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) || s[i] != '=' {
			return fail("expecting '='")
		}
		i++
		for i < len(s) && isSpace(s[i]) {
			i++
		}
		if i == len(s) {
			return fail("expecting an action")
		}
		act := 1
		for k, name := range actionNames {
			if strings.HasPrefix(s[i:], name) {
				act = -k
				i += len(name)
				break
			}
		}
		if act > 0 {
			if s[i] < '0' || s[i] > '9' {
				return fail("expecting an action (ok, done, bad, die, ignore, reset) or a jump count")
			}
			act = 0
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				if act < 1<<20 {
					act = act*10 + int(s[i]-'0')
				}
				i++
			}
			if act == 0 {
				return fail("a jump of 0 (use ignore)")
			}
		}
		if ret < numReturns {
			a[ret] = act
		} else {
			a.setDefault(act)
		}
	}
	return ""
}
