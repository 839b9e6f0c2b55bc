//go:build !nofleet

package daemon

import (
	"context"
	"fmt"
	"sync"

	"github.com/totpd/totpd/daemon/cluster"
	"github.com/totpd/totpd/daemon/config"
	"github.com/totpd/totpd/daemon/store"
)

// fleetBuiltIn says this build links fleet mode (the etcd client); the
// lean build (tag nofleet, /usr/sbin/totpd) execs totpd-fleet instead.
const fleetBuiltIn = true

// runningFleet is fleet mode's backend with the goroutine that keeps it
// in step with etcd.
type runningFleet struct {
	*cluster.Fleet
	cancel context.CancelFunc
	done   sync.WaitGroup
}

// newFleet builds the etcd backend over the local copy st; start makes
// the first contact.
func newFleet(o Options, cfg config.Config, sealer *store.Sealer, st *store.Store,
	logf func(string, ...any), addFailures func(*store.Record, int)) (*runningFleet, error) {
	f, err := cluster.New(cluster.Options{Config: cfg.Cluster, CredentialsDir: o.CredentialsDir, Sealer: sealer, Local: st,
		AddFailures: addFailures, Logf: logf, Now: o.Now})
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	return &runningFleet{Fleet: f}, nil
}

// start makes the first contact (a master key other than the cluster's
// is an error: the daemon does not start) and starts following etcd.
func (r *runningFleet) start(ctx context.Context) error {
	if err := r.Start(ctx); err != nil {
		r.Close()
		return fmt.Errorf("cluster: %w", err)
	}
	rctx, cancel := context.WithCancel(ctx)
	r.cancel = cancel
	r.done.Add(1)
	go func() { defer r.done.Done(); r.Run(rctx) }()
	return nil
}

// stop ends the sync loop and closes the client.
func (r *runningFleet) stop() {
	r.cancel()
	r.done.Wait()
	if err := r.Close(); err != nil {
		_ = err // closing a client to an unreachable cluster may fail; nothing is lost
	}
}
