package media

import (
	"encoding/binary"
	"testing"
)

func event(e uint8, end bool, dur uint16) []byte {
	b := []byte{e, 10, 0, 0}
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], dur)
	return b
}

// A held key is one press; its three end packets are not new presses; the
// same key pressed again (SIPp replays one capture, same timestamp) is.
func TestDTMFDetector(t *testing.T) {
	var d DTMFDetector
	var got []byte
	feed := func(p []byte, ts uint32) {
		if k, ok := d.Packet(p, ts); ok {
			got = append(got, k)
		}
	}
	for i := range 10 { // key 5 held 200 ms
		feed(event(5, false, uint16(160*(i+1))), 1000)
	}
	for range 3 {
		feed(event(5, true, 1760), 1000)
	}
	feed(event(11, true, 800), 3000) // '#': only its end packets arrived
	feed(event(11, true, 800), 3000)
	for range 2 { // key 1 twice from one capture: same timestamp
		feed(event(1, false, 160), 5000)
		feed(event(1, true, 320), 5000)
		feed(event(1, true, 320), 5000)
	}
	feed(event(16, false, 160), 7000) // flash: not a key
	if string(got) != "5#11" {
		t.Errorf("presses %q, want %q", got, "5#11")
	}
}

func TestDTMFSender(t *testing.T) {
	s := dtmfSender{queue: []uint8{7}}
	var pkts, ends, markers int
	var payload [4]byte
	for frame := range 12 {
		ts, marker, ok := s.next(payload[:], uint32(frame*160))
		if !ok {
			continue
		}
		pkts++
		if ts != 0 || payload[0] != 7 {
			t.Fatalf("frame %d: ts %d event %d", frame, ts, payload[0])
		}
		if marker {
			markers++
		}
		if payload[1]&0x80 != 0 {
			ends++
			if binary.BigEndian.Uint16(payload[2:]) != 800 {
				t.Errorf("end packet duration %d, want 800", binary.BigEndian.Uint16(payload[2:]))
			}
		}
	}
	if pkts != 7 || ends != 3 || markers != 1 {
		t.Errorf("%d packets, %d end, %d marked; want 7, 3, 1", pkts, ends, markers)
	}
}

// Translating between the laws keeps the sample (within G.711's step).
func TestTranslate(t *testing.T) {
	pcm := []int16{0, 1000, -1000, 8000, -20000, 30000}
	b := make([]byte, len(pcm))
	PCMA.Encode(b, pcm)
	Translate(b, PCMA, PCMU)
	out := make([]int16, len(pcm))
	PCMU.Decode(out, b)
	for i := range pcm {
		if d := int(out[i]) - int(pcm[i]); d > pcm16Tol(pcm[i]) || d < -pcm16Tol(pcm[i]) {
			t.Errorf("sample %d: %d -> %d", i, pcm[i], out[i])
		}
	}
}

func pcm16Tol(v int16) int {
	if v < 0 {
		v = -v
	}
	return int(v)/16 + 16
}
