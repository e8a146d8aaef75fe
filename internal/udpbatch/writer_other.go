//go:build !linux

package udpbatch

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// Writer queues packets and sends them with sendmmsg where the platform
// has it (x/net's WriteBatch), Batch per syscall.
// Its buffers grow to the largest batch queued and are reused. It is not
// safe for concurrent use: one goroutine queues and flushes.
type Writer struct {
	pc    *ipv4.PacketConn
	size  int // capacity of each packet buffer
	out   []ipv4.Message
	addrs []net.UDPAddr
	n     int

	messages uint64
}

// NewWriter sends on c, an IPv4 socket; size is the largest packet queued.
func NewWriter(c *net.UDPConn, size int, _ ...Option) *Writer {
	return &Writer{pc: ipv4.NewPacketConn(c), size: size}
}

// Queue copies pkt into the batch, to be sent to `to` at the next Flush.
func (w *Writer) Queue(pkt []byte, to netip.AddrPort) {
	if w.n == len(w.out) {
		w.out = append(w.out, ipv4.Message{Buffers: [][]byte{make([]byte, 0, w.size)}})
		w.addrs = append(w.addrs, net.UDPAddr{IP: make(net.IP, 4)})
		for i := range w.out { // the addresses moved with the slice
			w.out[i].Addr = &w.addrs[i]
		}
	}
	msg := &w.out[w.n]
	msg.Buffers[0] = append(msg.Buffers[0][:0], pkt...)
	a := &w.addrs[w.n]
	ip4 := to.Addr().Unmap().As4()
	copy(a.IP, ip4[:])
	a.Port = int(to.Port())
	w.n++
}

// Messages is how many messages the Writer has sent: one per packet here.
func (w *Writer) Messages() uint64 { return w.messages }

// Queued is how many packets wait for Flush.
func (w *Writer) Queued() int { return w.n }

// Flush sends the queued packets and empties the queue. It returns how
// many were sent; a full socket buffer or a closed socket loses the rest,
// as a dropped write would.
func (w *Writer) Flush() int {
	sent := 0
	for sent < w.n {
		end := min(w.n, sent+Batch)
		k, err := w.pc.WriteBatch(w.out[sent:end], 0)
		if err != nil || k == 0 {
			break
		}
		sent += k
		w.messages += uint64(k)
	}
	w.n = 0
	return sent
}
