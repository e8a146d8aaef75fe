package media

import "testing"

func TestJitterBufferReordersAndFillsLoss(t *testing.T) {
	j := newJitterBuffer(0)
	pkt := func(v byte, n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = v
		}
		return b
	}
	c := PCMU
	// 30 ms packets (240 samples), the second one arrives before the first,
	// the third is lost, the fourth arrives.
	j.write(1, 1000, pkt(0x10, 240), &c)
	j.write(1, 1480, pkt(0x30, 240), &c) // reordered ahead
	j.write(1, 1240, pkt(0x20, 240), &c)
	j.write(1, 1960, pkt(0x50, 240), &c) // 1720 lost
	out := make([]int16, 160)
	var got []int16
	for range 9 { // 180 ms
		j.read(out)
		got = append(got, out...)
	}
	want := func(i int) int16 {
		switch {
		case i < 240:
			return ulawTable[0x10]
		case i < 480:
			return ulawTable[0x20]
		case i < 720:
			return ulawTable[0x30]
		case i < 960:
			return 0
		case i < 1200:
			return ulawTable[0x50]
		}
		return 0
	}
	for i, v := range got {
		if v != want(i) {
			t.Fatalf("sample %d = %d, want %d", i, v, want(i))
		}
	}
	// A packet older than the read position is late and dropped.
	j.write(1, 1000, pkt(0x70, 160), &c)
	if j.late != 1 {
		t.Fatalf("late = %d", j.late)
	}
}

// TestJitterBufferAcrossTheRingsWrap: a stream whose packets straddle the
// ring's end and the 32-bit timestamp's wrap reads out sample for sample
// as sent, delayed by the playout delay, and leaves nothing behind.
func TestJitterBufferAcrossTheRingsWrap(t *testing.T) {
	const delay = 480
	j := newJitterBuffer(delay)
	c := PCMU
	ts := uint32(1<<32 - 5*ringSize/2 - 7) // wraps the ring twice, then the timestamp
	var sent []int16
	out := make([]int16, 160)
	var got []int16
	for p := range 200 {
		payload := make([]byte, 160)
		for i := range payload {
			payload[i] = byte(p*7 + i)
			sent = append(sent, ulawTable[payload[i]])
		}
		j.write(1, ts+uint32(p*160), payload, &c)
		j.read(out)
		got = append(got, out...)
	}
	if len(got) != len(sent) {
		t.Fatalf("read %d samples, sent %d", len(got), len(sent))
	}
	for i := range got {
		want := int16(0)
		if i >= delay {
			want = sent[i-delay]
		}
		if got[i] != want {
			t.Fatalf("sample %d = %d, want %d", i, got[i], want)
		}
	}
	for range 4 { // the rest, then silence: what was read was cleared
		j.read(out)
	}
	if j.ring != [ringSize]int16{} {
		t.Fatal("the ring still holds samples that were read")
	}
}
