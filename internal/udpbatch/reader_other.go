//go:build !linux

package udpbatch

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// Reader reads a socket's packets in batches where the platform has them
// (x/net's ReadBatch). One goroutine reads.
type Reader struct {
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
}

// NewReader reads c, an IPv4 socket.
func NewReader(c *net.UDPConn, _ ...Option) (*Reader, error) {
	r := &Reader{pc: ipv4.NewPacketConn(c), msgs: make([]ipv4.Message, Batch)}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	return r, nil
}

// Read waits for packets and returns how many arrived;
// packet i is r.Packet(i), valid until the next Read. An error means the
// socket is closed.
func (r *Reader) Read() (int, error) { return r.pc.ReadBatch(r.msgs, 0) }

// Packet returns received packet i and its sender.
func (r *Reader) Packet(i int) ([]byte, netip.AddrPort) {
	var from netip.AddrPort
	if ua, ok := r.msgs[i].Addr.(*net.UDPAddr); ok {
		from = ua.AddrPort()
	}
	return r.msgs[i].Buffers[0][:r.msgs[i].N], from
}
