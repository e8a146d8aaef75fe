package ratelimit

import (
	"net/netip"
	"testing"
	"time"
)

// A source gets its burst, then its rate; an IPv6 /64 is one source.
func TestLimiter(t *testing.T) {
	l := New(2) // bursts of 4
	now := time.Now()
	a, b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff")
	for i := range 4 {
		if !l.Take(a, now) {
			t.Fatalf("take %d refused within the burst", i)
		}
	}
	if l.Take(b, now) {
		t.Fatal("another address of the same /64 had a burst of its own")
	}
	if !l.Take(netip.MustParseAddr("2001:db8:0:1::1"), now) {
		t.Fatal("another /64 was held up")
	}
	if !l.Take(a, now.Add(500*time.Millisecond)) {
		t.Fatal("no token back after half a second at 2 a second")
	}
	if (*Limiter)(nil).Take(a, now) != true || New(0) != nil {
		t.Fatal("no rate is no limit")
	}
}

// A key with Max failures within Window is locked for Lock, then free.
func TestLockout(t *testing.T) {
	l := Lockout{Max: 3, Window: time.Minute, Lock: 5 * time.Minute}
	now := time.Now()
	l.Fail("k", now)
	l.Fail("k", now.Add(2*time.Minute)) // a new window: one failure again
	l.Fail("k", now.Add(2*time.Minute))
	if l.Locked("k", now.Add(2*time.Minute)) {
		t.Fatal("locked after 2 failures in a window")
	}
	l.Fail("k", now.Add(2*time.Minute))
	if !l.Locked("k", now.Add(3*time.Minute)) || l.Locked("other", now) {
		t.Fatal("not locked after 3 failures in a window, or another key locked")
	}
	if l.Locked("k", now.Add(8*time.Minute)) {
		t.Fatal("still locked after the lock time")
	}
}
