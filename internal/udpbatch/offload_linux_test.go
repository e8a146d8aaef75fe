package udpbatch

import (
	"bytes"
	"fmt"
	"net"
	"testing"
)

// TestGROTakesAGSOMessageWhole: 64 packets of one size to one address
// leave as one GSO message and are read as one GRO message, cut back into
// the 64 packets in order; a shorter packet ends a message (GSO's last
// segment may be short, no other), so sizes 172, 172, 100, 172 take two
// messages and arrive as sent.
func TestGROTakesAGSOMessageWhole(t *testing.T) {
	src, dst := listen(t), listen(t)
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	w := NewWriter(src, 172)
	r, err := NewReader(dst)
	if err != nil {
		t.Fatal(err)
	}
	if !r.gro {
		t.Fatal("the kernel refused UDP_GRO")
	}
	for _, sizes := range [][]int{repeat(172, MaxSegments), {172, 172, 100, 172}} {
		var want [][]byte
		for i, size := range sizes {
			p := bytes.Repeat([]byte{byte(i)}, size)
			copy(p, fmt.Sprintf("packet %03d", i))
			want = append(want, p)
			w.Queue(p, to)
		}
		before := w.Messages()
		if sent := w.Flush(); sent != len(sizes) {
			t.Fatalf("sent %d of %d", sent, len(sizes))
		}
		wantMsgs := uint64(1)
		if len(sizes) == 4 {
			wantMsgs = 2
		}
		if got := w.Messages() - before; got != wantMsgs {
			t.Errorf("sizes %v went in %d messages, want %d", sizes, got, wantMsgs)
		}
		var got [][]byte
		messages := 0
		for len(got) < len(sizes) {
			n, err := r.Read()
			if err != nil {
				t.Fatal(err)
			}
			messages += r.n
			for i := range n {
				p, _ := r.Packet(i)
				got = append(got, bytes.Clone(p))
			}
		}
		if messages != int(wantMsgs) {
			t.Errorf("sizes %v were read in %d messages, want %d", sizes, messages, wantMsgs)
		}
		for i := range want {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("packet %d: got %d bytes %q..., want %d bytes %q...", i, len(got[i]), got[i][:10], len(want[i]), want[i][:10])
			}
		}
	}
}

func repeat(v, n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = v
	}
	return s
}
