package server

import (
	"errors"
	"fmt"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// answer reports the answer to one request body from peer p, in the
// order of PRODUCT.md §2: the version first (wire.DecodeMessage: another
// version gets the version error whatever fields it has), then the
// strict decoding, then the bounds and the user name (checkRequest),
// all before anything from the request is used or audited; then dispatch.
func (s *Server) answer(p Peer, who caller, body []byte) *wire.Response {
	var req wire.Request
	err := wire.DecodeMessage(body, &req)
	var ve *wire.VersionError
	switch {
	case errors.As(err, &ve):
		return errResp(wire.ErrCodeVersion, versionMessage(ve))
	case err != nil:
		return errResp(wire.ErrCodeBadRequest, "bad request: "+err.Error())
	}
	if werr, reason := checkRequest(&req); werr != nil {
		// Audited with nothing the request sent but a known op and a
		// valid user name: the over-long or malformed value is what must
		// not reach the log.
		ev := audit.Event{Op: auditOp(req.Op), Caller: who.name, Result: "denied", Reason: reason}
		if engine.CheckName(req.User) == nil {
			ev.User = req.User
		}
		s.audit(ev)
		return &wire.Response{Error: werr}
	}
	return s.dispatch(p, who, &req)
}

// versionMessage reports the answer to a request of another version.
func versionMessage(ve *wire.VersionError) string {
	if ve.Missing {
		return fmt.Sprintf("the request carries no protocol version (this totpd speaks %d): use a totpctl and pam_totpd.so from the same release as totpd", wire.Version)
	}
	return fmt.Sprintf("protocol version %d is not spoken here (this totpd speaks %d): use a totpctl and pam_totpd.so from the same release as totpd", ve.Got, wire.Version)
}

// checkRequest reports a refusal (and its audit reason) for a request
// with a free-text field over wire.MaxField or a user name that
// engine.CheckName refuses; nil when the request may be used. It is the
// one place the server checks a request's values.
func checkRequest(req *wire.Request) (*wire.Error, string) {
	if err := req.Validate(); err != nil {
		var fe *wire.FieldError
		reason := "bad request: a field over its bound"
		if errors.As(err, &fe) {
			reason = fmt.Sprintf("bad request: %s over %d bytes", fe.Field, fe.Max)
		}
		return &wire.Error{Code: wire.ErrCodeBadRequest, Message: "bad request: " + err.Error()}, reason
	}
	if req.User != "" {
		if err := engine.CheckName(req.User); err != nil {
			return &wire.Error{Code: wire.ErrCodeBadRequest, Message: "bad request: " + err.Error()}, "bad name"
		}
	}
	return nil, ""
}

// knownOp reports whether op is one of the protocol's operations.
func knownOp(op wire.Op) bool {
	_, ok := opClass[op]
	return ok
}

// auditOp reports op for the audit log: itself when it is known, else
// "unknown", so no request can choose the first word of an audit line.
func auditOp(op wire.Op) string {
	if knownOp(op) {
		return string(op)
	}
	return "unknown"
}

// claimedBy reports "uid N" when a caller other than root sent the
// login's service, rhost or tty (a screen locker running as the user):
// the audit marks them as that caller's claim. Root's (sshd, login, su)
// are taken as said, and "" means nothing to mark.
func claimedBy(p Peer, req *wire.Request) string {
	if p.UID == 0 || req.Service == "" && req.RHost == "" && req.TTY == "" {
		return ""
	}
	return fmt.Sprintf("uid %d", p.UID)
}

// audit logs ev when the server has an audit logger.
func (s *Server) audit(ev audit.Event) {
	if s.Audit != nil {
		s.Audit.Log(ev)
	}
}
