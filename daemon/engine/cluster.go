package engine

import (
	"fmt"

	"github.com/totpd/totpd/daemon/wire"
)

// clusterStatuser is the side of a Backend that can say where the state
// lives and whether it answers: the etcd backend of fleet mode
// (PRODUCT.md §8), and Local. A Backend without it is reported as the
// local one.
type clusterStatuser interface {
	Status() wire.ClusterStatus
}

// Status reports the local journal: this host only, always online.
func (l *localBackend) Status() wire.ClusterStatus {
	return wire.ClusterStatus{Backend: "local", Online: true}
}

// ClusterStatus answers `totpctl cluster status`: the Backend's own
// report, or {Backend: "local", Online: true} for a Backend that has
// none. It only reads: no user's lock is taken and nothing is saved. The
// read is audited once, as `users` and `metrics` are, with the backend
// and, offline, the number of users still to write back.
func (e *Engine) ClusterStatus(info Info) *wire.Response {
	st := wire.ClusterStatus{Backend: "local", Online: true}
	if s, ok := e.store.(clusterStatuser); ok {
		st = s.Status()
	}
	reason := "cluster status: " + st.Backend
	switch {
	case st.Backend == "local":
	case st.Online:
		reason += " online"
	default:
		reason += " offline"
	}
	if st.Pending > 0 {
		reason += fmt.Sprintf(", %d pending", st.Pending)
	}
	e.log(info, "", "ok", reason)
	return &wire.Response{Version: wire.Version, Cluster: &st}
}
