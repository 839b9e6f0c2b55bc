package server

import (
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// class says who may call an operation; authorize holds the rule of each.
type class int

const (
	// classLogin: the PAM module's ops about user U: uid 0, or U itself
	// (screen lockers run as the user).
	classLogin class = iota
	// classSelf: a user's ops about itself: the caller, whatever the
	// request names (naming someone else is refused).
	classSelf
	// classAdmin: uid 0, or a member of admin_group.
	classAdmin
	// classRoot: uid 0 only (restore, which replaces every user's state).
	classRoot
)

// handler answers a request about user once authorize has let it through;
// info describes the request for the audit log.
type handler func(e *engine.Engine, user string, req *wire.Request, info engine.Info) *wire.Response

// opSpec is what the server knows of one operation: who may call it and
// what answers it.
type opSpec struct {
	class  class
	handle handler
}

// ops is the one table of the protocol's operations: authorize reads the
// class, dispatch the handler, knownOp (and so the audit log's op) the
// keys. An op not here is unknown: refused before anything is done. A new
// op is one line here beside its constant in package wire.
var ops = map[wire.Op]opSpec{
	wire.OpLoginQuery:  {classLogin, byUser((*engine.Engine).LoginQuery)},
	wire.OpLoginVerify: {classLogin, withCode((*engine.Engine).LoginVerify)},
	wire.OpLoginEnrollBegin: {classLogin, func(e *engine.Engine, user string, _ *wire.Request, info engine.Info) *wire.Response {
		return e.EnrollBegin(user, info, true)
	}},
	wire.OpLoginEnrollConfirm: {classLogin, func(e *engine.Engine, user string, req *wire.Request, info engine.Info) *wire.Response {
		return e.EnrollConfirm(user, req.Codes, info, true)
	}},

	wire.OpEnrollBegin: {classSelf, func(e *engine.Engine, user string, _ *wire.Request, info engine.Info) *wire.Response {
		return e.EnrollBegin(user, info, false)
	}},
	wire.OpEnrollConfirm: {classSelf, func(e *engine.Engine, user string, req *wire.Request, info engine.Info) *wire.Response {
		return e.EnrollConfirm(user, req.Codes, info, false)
	}},
	wire.OpStatus:        {classSelf, byUser((*engine.Engine).Status)},
	wire.OpDisable:       {classSelf, withCode((*engine.Engine).Disable)},
	wire.OpRecoveryCodes: {classSelf, withCode((*engine.Engine).RecoveryCodes)},

	wire.OpUsers: {classAdmin, func(e *engine.Engine, _ string, _ *wire.Request, info engine.Info) *wire.Response {
		return e.Users(info)
	}},
	wire.OpUserShow:    {classAdmin, byUser((*engine.Engine).Show)},
	wire.OpUserEnroll:  {classAdmin, byUser((*engine.Engine).AdminEnroll)},
	wire.OpUserDisable: {classAdmin, byUser((*engine.Engine).AdminDisable)},
	wire.OpUserUnlock:  {classAdmin, byUser((*engine.Engine).Unlock)},
	wire.OpUserCheck:   {classAdmin, withCode((*engine.Engine).Check)},
	wire.OpUserRequire: {classAdmin, func(e *engine.Engine, user string, req *wire.Request, info engine.Info) *wire.Response {
		return e.Require(user, req.Grace, info)
	}},
	wire.OpUserExempt: {classAdmin, byUser((*engine.Engine).Exempt)},
	wire.OpUserForget: {classAdmin, byUser((*engine.Engine).Forget)},
	wire.OpClusterStatus: {classAdmin, func(e *engine.Engine, _ string, _ *wire.Request, info engine.Info) *wire.Response {
		return e.ClusterStatus(info)
	}},

	// The admin tools, each answered in a file of its own.
	wire.OpImport:  opImport,
	wire.OpBackup:  opBackup,
	wire.OpRestore: opRestore,
	wire.OpMetrics: opMetrics,
}

// byUser is the handler of an engine method that takes only the user.
func byUser(m func(*engine.Engine, string, engine.Info) *wire.Response) handler {
	return func(e *engine.Engine, user string, _ *wire.Request, info engine.Info) *wire.Response {
		return m(e, user, info)
	}
}

// withCode is the handler of an engine method that takes the user and the request's code.
func withCode(m func(*engine.Engine, string, string, engine.Info) *wire.Response) handler {
	return func(e *engine.Engine, user string, req *wire.Request, info engine.Info) *wire.Response {
		return m(e, user, req.Code, info)
	}
}

// knownOp reports whether op is one of the protocol's operations.
func knownOp(op wire.Op) bool {
	_, ok := ops[op]
	return ok
}
