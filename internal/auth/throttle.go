package auth

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Wrong secrets (API token, page login, the bot's app password) are
// throttled per source IP (an IPv6 /64): past maxFailures within
// failureWindow a source is refused for lockout, with 429, right secret or
// not. Loopback is not throttled: this machine is trusted as it is with no
// token at all.
const (
	maxFailures   = 10
	failureWindow = time.Minute
	lockout       = 5 * time.Minute
)

var throttle = struct {
	mu    sync.Mutex
	bySrc map[netip.Addr]*srcFailures
	total atomic.Uint64 // wrong secrets, all sources
}{bySrc: map[netip.Addr]*srcFailures{}}

type srcFailures struct {
	n           int
	since       time.Time
	lockedUntil time.Time
}

func source(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, _ := netip.ParseAddr(host)
	if ip.Is6() && !ip.Is4In6() { // an IPv6 host holds a /64
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip.Unmap()
}

// Throttled reports whether r's source gave too many wrong secrets of late;
// then the answer is 429, and TooMany writes it.
func Throttled(r *http.Request) bool {
	if source(r).IsLoopback() {
		return false
	}
	throttle.mu.Lock()
	defer throttle.mu.Unlock()
	f := throttle.bySrc[source(r)]
	return f != nil && time.Now().Before(f.lockedUntil)
}

// TooMany answers a throttled request: 429 with Retry-After.
func TooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(lockout.Seconds())))
	http.Error(w, `{"error":{"code":"TooManyRequests","message":"too many wrong secrets from this address; try again later"}}`, http.StatusTooManyRequests)
}

// Failed counts a wrong secret from r's source.
func Failed(r *http.Request) {
	throttle.total.Add(1)
	now := time.Now()
	throttle.mu.Lock()
	defer throttle.mu.Unlock()
	if len(throttle.bySrc) >= 4096 {
		for k, f := range throttle.bySrc {
			if now.Sub(f.since) > failureWindow && now.After(f.lockedUntil) {
				delete(throttle.bySrc, k)
			}
		}
	}
	src := source(r)
	f := throttle.bySrc[src]
	if f == nil || now.Sub(f.since) > failureWindow {
		f = &srcFailures{since: now, lockedUntil: lockedUntil(f)}
		throttle.bySrc[src] = f
	}
	if f.n++; f.n >= maxFailures {
		f.lockedUntil = now.Add(lockout)
	}
}

func lockedUntil(f *srcFailures) time.Time {
	if f == nil {
		return time.Time{}
	}
	return f.lockedUntil
}

// Failures is how many wrong secrets were given, for /metrics.
func Failures() uint64 { return throttle.total.Load() }
