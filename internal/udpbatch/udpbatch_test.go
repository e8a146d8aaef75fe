package udpbatch

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
)

// TestWriterToReader: 150 packets queued for two addresses leave in
// batches and arrive whole, in order, each with its sender, and the queue
// is empty again after Flush; with the offloads (Linux) a destination's
// packets leave as GSO messages of up to MaxSegments, so 150 packets take
// 4 messages; without, 150.
func TestWriterToReader(t *testing.T) {
	for _, tc := range []struct {
		name         string
		wopts, ropts []Option
		messages     uint64 // sent, where the platform offloads
	}{
		{"offload", nil, nil, 4},
		{"no offload", []Option{WithoutOffload()}, []Option{WithoutOffload()}, 150},
		// a GSO sender to a reader that did not ask for GRO: the kernel
		// cuts the messages into datagrams on the way in
		{"gso to plain reader", nil, []Option{WithoutOffload()}, 4},
		{"plain sender to gro reader", []Option{WithoutOffload()}, nil, 150},
	} {
		t.Run(tc.name, func(t *testing.T) { testWriterToReader(t, tc.wopts, tc.ropts, tc.messages) })
	}
}

func testWriterToReader(t *testing.T, wopts, ropts []Option, messages uint64) {
	src, a, b := listen(t), listen(t), listen(t)
	w := NewWriter(src, 172, wopts...)
	const n = 150
	for i := range n {
		to := a.LocalAddr().(*net.UDPAddr).AddrPort()
		if i%2 == 1 {
			to = b.LocalAddr().(*net.UDPAddr).AddrPort()
		}
		w.Queue([]byte(fmt.Sprintf("packet %03d", i)), to)
	}
	if w.Queued() != n {
		t.Fatalf("queued %d, want %d", w.Queued(), n)
	}
	if sent := w.Flush(); sent != n || w.Queued() != 0 {
		t.Fatalf("flushed %d of %d, %d still queued", sent, n, w.Queued())
	}
	if got := w.Messages(); got != messages && (runtime.GOOS == "linux" || got != n) {
		t.Errorf("%d packets went in %d messages, want %d", n, got, messages)
	}
	from := src.LocalAddr().(*net.UDPAddr).AddrPort()
	for k, c := range []*net.UDPConn{a, b} {
		r, err := NewReader(c, ropts...)
		if err != nil {
			t.Fatal(err)
		}
		next := k
		for next < n {
			got, err := r.Read()
			if err != nil || got == 0 || got > Batch*MaxSegments {
				t.Fatalf("read %d, %v", got, err)
			}
			for i := range got {
				p, sender := r.Packet(i)
				if want := fmt.Sprintf("packet %03d", next); string(p) != want || sender != netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) {
					t.Fatalf("got %q from %s, want %q from %s", p, sender, want, from)
				}
				next += 2
			}
		}
	}
}

// listen opens a loopback socket, closed when the test ends.
func listen(t *testing.T) *net.UDPConn {
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetReadBuffer(1 << 20)
	return c
}

// BenchmarkBatch sends 64 packets with one sendmmsg and reads them back
// with recvmmsg: per op, one batch each way; no allocation. With the
// offloads (Linux) the 64 packets are one GSO message, taken as one GRO
// message.
func BenchmarkBatch(b *testing.B) {
	b.Run("offload", func(b *testing.B) { benchmarkBatch(b) })
	b.Run("no-offload", func(b *testing.B) { benchmarkBatch(b, WithoutOffload()) })
}

func benchmarkBatch(b *testing.B, opts ...Option) {
	src, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	_ = dst.SetReadBuffer(1 << 20)
	w, r := NewWriter(src, 172, opts...), func() *Reader { r, _ := NewReader(dst, opts...); return r }()
	to := dst.LocalAddr().(*net.UDPAddr).AddrPort()
	pkt := make([]byte, 172)
	b.ReportAllocs()
	for b.Loop() {
		for range Batch {
			w.Queue(pkt, to)
		}
		w.Flush()
		for got := 0; got < Batch; {
			n, err := r.Read()
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
	}
}
