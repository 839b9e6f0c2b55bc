package metrics

import (
	"sync/atomic"
	"time"
)

// SyncBuckets are the upper bounds, in seconds, of the store sync latency
// histogram: 0.1 ms to 100 ms. One fdatasync of the journal costs
// 0.4–0.8 ms on this project's VMs (ARCHITECTURE.md, "Where a login's
// time goes"), a few ms on spinning disks or busy SSDs; past 100 ms
// every login waits that long, which is what an alert should catch.
var SyncBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1}

// Histogram counts durations into fixed buckets without a lock: one
// atomic add per bucket hit and one for the sum. It is safe for
// concurrent use.
type Histogram struct {
	bounds []float64       // upper bounds in seconds, ascending
	counts []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumNS  atomic.Int64    // the sum, in nanoseconds: exact, unlike a float
}

// NewHistogram returns a histogram with the upper bounds (seconds,
// ascending) and a +Inf bucket after them.
func NewHistogram(bounds []float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(h.bounds) && s > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNS.Add(int64(d))
}

// write writes the histogram's samples: the cumulative buckets with le
// up to +Inf, _sum and _count. Each bucket is read once, so the buckets
// never decrease and +Inf always equals _count.
func (h *Histogram) write(w *textWriter, name string) {
	var cum uint64
	for i := range h.counts {
		cum += h.counts[i].Load()
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatFloat(h.bounds[i])
		}
		w.sample(name+"_bucket", []label{{"le", le}}, float64(cum))
	}
	w.sample(name+"_sum", nil, time.Duration(h.sumNS.Load()).Seconds())
	w.sample(name+"_count", nil, float64(cum))
}
