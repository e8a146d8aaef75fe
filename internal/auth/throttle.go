package auth

import (
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/botline/botline/internal/ratelimit"
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

var (
	throttle = ratelimit.Lockout{Max: maxFailures, Window: failureWindow, Lock: lockout}
	failed   atomic.Uint64 // wrong secrets, all sources
)

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
	src := source(r)
	return !src.IsLoopback() && throttle.Locked(src.String(), time.Now())
}

// TooMany answers a throttled request: 429 with Retry-After.
func TooMany(w http.ResponseWriter) {
	w.Header().Set("Retry-After", strconv.Itoa(int(lockout.Seconds())))
	http.Error(w, `{"error":{"code":"TooManyRequests","message":"too many wrong secrets from this address; try again later"}}`, http.StatusTooManyRequests)
}

// Failed counts a wrong secret from r's source.
func Failed(r *http.Request) {
	failed.Add(1)
	throttle.Fail(source(r).String(), time.Now())
}

// Failures is how many wrong secrets were given, for /metrics.
func Failures() uint64 { return failed.Load() }
