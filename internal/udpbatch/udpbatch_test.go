package udpbatch

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
)

// TestWriterToReader: 150 packets queued for two addresses leave in
// batches (more than one sendmmsg) and arrive whole, each with its sender,
// and the queue is empty again after Flush.
func TestWriterToReader(t *testing.T) {
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_ = c.SetReadBuffer(1 << 20)
		return c
	}
	src, a, b := listen(), listen(), listen()
	w := NewWriter(src, 172)
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
	from := src.LocalAddr().(*net.UDPAddr).AddrPort()
	for k, c := range []*net.UDPConn{a, b} {
		r, err := NewReader(c)
		if err != nil {
			t.Fatal(err)
		}
		next := k
		for next < n {
			got, err := r.Read()
			if err != nil || got == 0 || got > Batch {
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

// BenchmarkBatch sends 64 packets with one sendmmsg and reads them back
// with recvmmsg: per op, one batch each way; no allocation.
func BenchmarkBatch(b *testing.B) {
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
	w, r := NewWriter(src, 172), func() *Reader { r, _ := NewReader(dst); return r }()
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
