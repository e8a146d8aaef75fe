package retry

import (
	"context"
	"time"
)

// Loop calls pass until ctx ends. After a pass that failed it waits 1 s,
// then 2 s, 4 s... up to maxBackoff; after one that succeeded, idle (the
// backoff starts over). A send on wake cuts any wait short.
func Loop(ctx context.Context, wake <-chan struct{}, maxBackoff, idle time.Duration, pass func() (failed bool)) {
	backoff := time.Second
	for {
		wait := idle
		if pass() {
			wait, backoff = backoff, min(2*backoff, maxBackoff)
		} else {
			backoff = time.Second
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
