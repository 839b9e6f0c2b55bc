package server

import (
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/wire"
)

// opMetrics answers wire.OpMetrics (totpctl metrics): the Prometheus text
// of package metrics, for root and admin_group only (classAdmin), like
// every command that tells about all users.
var opMetrics = opSpec{classAdmin, func(e *engine.Engine, _ string, _ *wire.Request, info engine.Info) *wire.Response {
	return e.Metrics(info)
}}
