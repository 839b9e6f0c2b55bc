package server

import (
	"errors"
	"fmt"

	"github.com/totpd/totpd/daemon/audit"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/names"
	"github.com/totpd/totpd/daemon/wire"
)

// answer reports the answer to one request body from peer p, in the
// order ARCHITECTURE.md gives ("The wire format"): the version first (wire.DecodeMessage: another
// version gets the version error whatever fields it has), then the
// strict decoding, then the bounds and the user name (checkRequest),
// all before anything from the request is used or audited; then dispatch.
func (s *Server) answer(p Peer, who caller, body []byte) *wire.Response {
	var req wire.Request
	err := wire.DecodeRequest(body, &req)
	var ve *wire.VersionError
	switch {
	case errors.As(err, &ve):
		return errResp(wire.ErrCodeVersion, versionMessage(ve))
	case err != nil:
		return errResp(wire.ErrCodeBadRequest, "bad request: "+err.Error())
	}
	if werr, reason := checkRequest(&req); werr != nil {
		// Audited with what of the request is within its bounds (the op
		// when it is known, the user name when it is valid, the service,
		// rhost and tty each within wire.MaxField): the over-long or
		// malformed value is what must not reach the log.
		user := ""
		if names.Check(req.User) == nil {
			user = req.User
		}
		s.audit(requestInfo(p, who, &req).Event(user, "denied", reason))
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
// names.Check refuses; nil when the request may be used. It is the
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
		if err := names.Check(req.User); err != nil {
			return &wire.Error{Code: wire.ErrCodeBadRequest, Message: "bad request: " + err.Error()}, "bad name"
		}
	}
	return nil, ""
}

// auditOp reports op for the audit log: itself when it is known, else
// "unknown", so no request can choose the first word of an audit line.
func auditOp(op wire.Op) string {
	if knownOp(op) {
		return string(op)
	}
	return "unknown"
}

// requestInfo describes req from peer p, whose account is who, for the
// engine and the audit log (engine.Info.Event): the op as auditOp
// reports it, the caller's name, and the login's service, rhost and tty,
// each left out when it is over wire.MaxField. It is the one description
// of a request, for the refusals of answer and dispatch as for the
// engine's decisions.
func requestInfo(p Peer, who caller, req *wire.Request) engine.Info {
	info := engine.Info{
		Op: wire.Op(auditOp(req.Op)), Caller: who.name,
		Service: bounded(req.Service), RHost: bounded(req.RHost), TTY: bounded(req.TTY),
		PubKey: bounded(req.PubKey), Flow: bounded(req.Flow),
	}
	info.ClaimedBy = claimedBy(p, info)
	return info
}

// bounded reports v, or "" when it is over wire.MaxField.
func bounded(v string) string {
	if len(v) > wire.MaxField {
		return ""
	}
	return v
}

// claimedBy reports "uid N" when a caller other than root sent the
// login's service, rhost, tty or public key (a screen locker running as the user):
// the audit marks them as that caller's claim. Root's (sshd, login, su)
// are taken as said, and "" means nothing to mark.
func claimedBy(p Peer, info engine.Info) string {
	if p.UID == 0 || info.Service == "" && info.RHost == "" && info.TTY == "" && info.PubKey == "" {
		return ""
	}
	return uidName(p.UID)
}

// audit logs ev when the server has an audit logger.
func (s *Server) audit(ev audit.Event) {
	if s.Audit != nil {
		s.Audit.Log(ev)
	}
}
