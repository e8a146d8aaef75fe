package retry

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesUpToMaxAndResets(t *testing.T) {
	b := Backoff{First: time.Second, Max: 4 * time.Second}
	var got []time.Duration
	for range 5 {
		got = append(got, b.Next())
	}
	want := []time.Duration{1, 2, 4, 4, 4}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("waits %v, want %v seconds", got, want)
		}
	}
	b.Reset()
	if d := b.Next(); d != time.Second {
		t.Fatalf("after Reset: %v, want 1s", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep waited out an hour on an ended context")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("Sleep did not report a whole wait")
	}
}

// Loop retries a failing pass with the backoff, and a wake cuts the wait
// short.
func TestLoopWakesAndRetries(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := make(chan struct{}, 1)
	passes := make(chan int, 8)
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Loop(ctx, wake, time.Hour, time.Hour, func() bool { n++; passes <- n; return n < 3 })
	}()
	<-passes // the first pass runs at once and fails: the wait is 1 s
	wake <- struct{}{}
	select {
	case <-passes:
	case <-time.After(500 * time.Millisecond):
		t.Fatal("a wake did not cut the backoff short")
	}
	select {
	case <-passes: // the second failed too: after a 2 s backoff, the third
	case <-time.After(3 * time.Second):
		t.Fatal("no retry after the backoff")
	}
	cancel()
	<-done
}
