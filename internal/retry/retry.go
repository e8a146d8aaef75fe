package retry

import (
	"context"
	"time"
)

// Loop calls pass until ctx ends. After a pass that failed it waits 1 s,
// then 2 s, 4 s... up to maxBackoff; after one that succeeded, idle (the
// backoff starts over). A send on wake cuts any wait short.
func Loop(ctx context.Context, wake <-chan struct{}, maxBackoff, idle time.Duration, pass func() (failed bool)) {
	backoff := Backoff{First: time.Second, Max: maxBackoff}
	for {
		wait := idle
		if pass() {
			wait = backoff.Next()
		} else {
			backoff.Reset()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Backoff is a doubling wait between tries: First, twice that, and so on
// up to Max (no bound when 0). The zero value waits nothing.
type Backoff struct {
	First, Max time.Duration
	next       time.Duration
}

// Next returns the wait before the next try.
func (b *Backoff) Next() time.Duration {
	if b.next == 0 {
		b.next = b.First
	}
	d := b.next
	b.next *= 2
	if b.Max > 0 {
		b.next = min(b.next, b.Max)
	}
	return d
}

// Reset starts over at First (a try succeeded).
func (b *Backoff) Reset() { b.next = 0 }

// Sleep waits d, or less if ctx ends first; it reports whether the whole
// wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
