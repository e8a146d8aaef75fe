package media

import (
	"testing"
	"time"
)

func TestRTPStats(t *testing.T) {
	var s RTPStats
	t0 := time.Unix(0, 0)
	// 65530..65540 across the wrap, 65533 and 2 lost, 1 reordered after 3,
	// one packet 100 ms late.
	seq := uint16(65530)
	for i := 0; i < 11; i++ {
		cur := seq + uint16(i)
		if cur == 65533 || cur == 2 || cur == 1 {
			continue
		}
		arr := t0.Add(time.Duration(i) * 20 * time.Millisecond)
		if cur == 65535 {
			arr = arr.Add(100 * time.Millisecond)
		}
		s.Update(cur, uint32(i*160), arr)
		if cur == 3 {
			s.Update(1, uint32(7*160), arr.Add(time.Millisecond)) // reordered
		}
	}
	if s.Expected() != 11 || s.Lost() != 2 || s.Received != 9 {
		t.Fatalf("expected %d lost %d received %d", s.Expected(), s.Lost(), s.Received)
	}
	if s.Late != 1 {
		t.Fatalf("late %d", s.Late)
	}
	if s.Jitter() <= 0 {
		t.Fatalf("jitter %v", s.Jitter())
	}
}
