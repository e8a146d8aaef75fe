package ratelimit

import (
	"net/netip"
	"sync"
	"time"
)

// Limiter is a token bucket per source address.
type Limiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxBuckets bounds the limiter's memory; past it, buckets that refilled
// are dropped (a full bucket is the same as none).
const maxBuckets = 4096

// New is a limiter of rate tokens a second per source, in bursts of twice
// that; nil (no limit) when rate is not positive.
func New(rate float64) *Limiter {
	if rate <= 0 {
		return nil
	}
	return &Limiter{rate: rate, burst: max(2*rate, 1), buckets: map[netip.Addr]*bucket{}}
}

// Take reports whether ip may go on now, and takes a token if so. An IPv6
// source is its /64 (a host holds one whole). A nil Limiter takes all.
func (l *Limiter) Take(ip netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	if ip.Is6() && !ip.Is4In6() {
		p, _ := ip.Prefix(64)
		ip = p.Addr()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[ip]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[ip] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (l *Limiter) prune(now time.Time) {
	for ip, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, ip)
		}
	}
	if len(l.buckets) >= maxBuckets { // all busy: a flood from many sources
		clear(l.buckets)
	}
}
