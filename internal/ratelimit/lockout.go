package ratelimit

import (
	"sync"
	"time"
)

// Lockout counts failures (wrong passwords, say) per key: a key with Max
// failures within Window is locked for Lock. The zero value is not ready:
// set the three bounds.
type Lockout struct {
	Max          int
	Window, Lock time.Duration

	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n           int
	since       time.Time
	lockedUntil time.Time
}

// maxKeys bounds the keys kept; past it, keys idle and unlocked go.
const maxKeys = 4096

// Locked reports whether key is locked out at now.
func (l *Lockout) Locked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[key]
	return f != nil && now.Before(f.lockedUntil)
}

// Fail counts a failure of key at now, locking it once it has Max within
// Window.
func (l *Lockout) Fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]*failures{}
	}
	if len(l.m) >= maxKeys {
		for k, f := range l.m {
			if now.Sub(f.since) > l.Window && now.After(f.lockedUntil) {
				delete(l.m, k)
			}
		}
	}
	f := l.m[key]
	if f == nil {
		f = &failures{since: now}
		l.m[key] = f
	}
	if now.Sub(f.since) > l.Window { // a new window; a lock running stays
		f.n, f.since = 0, now
	}
	if f.n++; f.n >= l.Max {
		f.lockedUntil = now.Add(l.Lock)
	}
}
