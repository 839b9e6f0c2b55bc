//go:build nofleet

package daemon

import (
	"context"
	"errors"

	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/engine"
	"github.com/totpd/totpd/daemon/store"
)

// fleetBuiltIn is false in the lean build: Run execs totpd-fleet when
// the configuration asks for fleet mode (execFleet), so newFleet is
// never reached.
const fleetBuiltIn = false

type runningFleet struct{ Fleet engine.Backend }

func newFleet(Options, config.Config, *store.Sealer, *store.Store, func(string, ...any), func(*store.Record, int)) (*runningFleet, error) {
	return nil, errors.New("this totpd is built without fleet mode; run totpd-fleet")
}

func (*runningFleet) start(context.Context) error { return nil }
func (*runningFleet) stop()                       {}
