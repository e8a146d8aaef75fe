//go:build !linux

package sip

import (
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"
)

// batchReader reads a shared socket's packets in batches where the
// platform has them (x/net).
type batchReader struct {
	pc   *ipv4.PacketConn
	msgs []ipv4.Message
}

func newBatchReader(c *net.UDPConn) (*batchReader, error) {
	r := &batchReader{pc: ipv4.NewPacketConn(c), msgs: make([]ipv4.Message, muxBatch)}
	for i := range r.msgs {
		r.msgs[i].Buffers = [][]byte{make([]byte, 1500)}
	}
	return r, nil
}

func (r *batchReader) read() (int, error) { return r.pc.ReadBatch(r.msgs, 0) }

func (r *batchReader) packet(i int) ([]byte, netip.AddrPort) {
	var from netip.AddrPort
	if ua, ok := r.msgs[i].Addr.(*net.UDPAddr); ok {
		from = ua.AddrPort()
	}
	return r.msgs[i].Buffers[0][:r.msgs[i].N], from
}
