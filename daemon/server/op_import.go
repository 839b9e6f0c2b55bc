package server

import (
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// opImport answers wire.OpImport (totpctl import): an admin stores one
// user's secret read from pam_google_authenticator's or pam_oath's file
// (engine.Import). The request's secret is never audited or logged.
var opImport = opSpec{classAdmin, func(e *engine.Engine, user string, req *wire.Request, info engine.Info) *wire.Response {
	return e.Import(user, req.Import, info)
}}
