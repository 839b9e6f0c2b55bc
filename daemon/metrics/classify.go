package metrics

import (
	"strings"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/wire"
)

// The label values, indexed by the constants below. They are fixed here,
// never taken from a request or a reason, so that no caller can add a
// time series.
var (
	verificationResults = [...]string{vOK: "ok", vWrong: "wrong", vMalformed: "malformed", vReplay: "replay",
		vLocked: "locked", vNotEnrolled: "not_enrolled", vRefused: "refused", vError: "error"}
	enrollmentKinds = [...]string{eSelf: "self", eLogin: "login", eAdmin: "admin", eImport: "import"}
)

const (
	vOK = iota
	vWrong
	vMalformed
	vReplay
	vLocked
	vNotEnrolled
	vRefused
	vError
)

const (
	eSelf = iota
	eLogin
	eAdmin
	eImport
)

// The reasons the engine audits (daemon/engine: login.go verify, enroll.go,
// the import op) that the counters read. TestClassifyEngineReasons drives
// the real engine through each of them, so that a reworded reason fails a
// test instead of silently counting as "refused".
const (
	suffixNowLocked = ", now locked" // a failure that started a lockout
	recoveryAccept  = "recovery code accepted"
	importedPrefix  = "imported "
)

// count classifies one audited event into the counters.
func (r *Registry) count(ev audit.Event) {
	if strings.HasSuffix(ev.Reason, suffixNowLocked) {
		r.lockouts.Add(1)
	}
	if ev.Result == "ok" && strings.HasSuffix(ev.Reason, recoveryAccept) {
		r.recoveryUsed.Add(1)
	}
	switch wire.Op(ev.Op) {
	case wire.OpLoginVerify:
		r.verifications[verificationResult(ev)].Add(1)
	case wire.OpEnrollConfirm, wire.OpLoginEnrollConfirm, wire.OpUserEnroll, wire.OpImport:
		// An import checked with --dry-run is audited "ok" too, but
		// "import checked (dry run) ...": only "imported ..." enrolled.
		if ev.Result == "ok" && (wire.Op(ev.Op) != wire.OpImport || strings.HasPrefix(ev.Reason, importedPrefix)) {
			r.enrollments[enrollmentKind(wire.Op(ev.Op))].Add(1)
		}
	}
}

// verificationResult reports the result (an index of verificationResults)
// of an audited login.verify.
func verificationResult(ev audit.Event) int {
	switch ev.Result {
	case "ok":
		return vOK
	case "error":
		return vError
	}
	switch strings.TrimSuffix(ev.Reason, suffixNowLocked) {
	case "wrong code":
		return vWrong
	case "malformed code":
		return vMalformed
	case "code reused":
		return vReplay
	case "locked":
		return vLocked
	case "not enrolled":
		return vNotEnrolled
	}
	return vRefused
}

// enrollmentKind reports the kind (an index of enrollmentKinds) of an enrolling op.
func enrollmentKind(op wire.Op) int {
	switch op {
	case wire.OpEnrollConfirm:
		return eSelf
	case wire.OpLoginEnrollConfirm:
		return eLogin
	case wire.OpUserEnroll:
		return eAdmin
	}
	return eImport
}
