package metric

import (
	"sync/atomic"
	"time"
)

// Histogram counts durations into fixed buckets with atomics; the zero
// value is not usable: make one with NewHistogram.
type Histogram struct {
	bounds []float64       // upper bounds, seconds
	counts []atomic.Uint64 // one per bound, plus +Inf
	sumUs  atomic.Uint64
	n      atomic.Uint64
}

// NewHistogram returns a histogram with the given upper bounds (seconds,
// increasing).
func NewHistogram(bounds ...float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts one duration.
func (h *Histogram) Observe(d time.Duration) {
	i := 0
	for i < len(h.bounds) && d.Seconds() > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumUs.Add(uint64(max(d.Microseconds(), 0)))
	h.n.Add(1)
}

// Snapshot is a histogram's state: per-bucket (not cumulative) counts, the
// last one for values above every bound.
type Snapshot struct {
	Bounds []float64
	Counts []uint64
	Sum    float64 // seconds
	Count  uint64
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts)), Sum: float64(h.sumUs.Load()) / 1e6, Count: h.n.Load()}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

// Cumulative returns the counts of values at or below each bound, as
// Prometheus buckets want them.
func (s Snapshot) Cumulative() map[float64]uint64 {
	out := make(map[float64]uint64, len(s.Bounds))
	var acc uint64
	for i, b := range s.Bounds {
		acc += s.Counts[i]
		out[b] = acc
	}
	return out
}
