// Package udpbatch moves UDP packets in batches: a Reader receives up to a
// batch of messages per recvmmsg, a Writer sends a batch queued one packet
// at a time with sendmmsg. On Linux both also use the kernel's UDP
// offloads: the Writer sends a destination's same-sized packets as one GSO
// message (UDP_SEGMENT), and the Reader asks for GRO (UDP_GRO), so packets
// that travel together cross the kernel's stack once, not once each. Both
// reuse their buffers, so the packet path allocates nothing. IPv4 only.
//
// The shared RTP ports of the gateway (--rtp-mux) and the load generator's
// shared RTP sockets use them.
package udpbatch

import (
	"net"
	"net/netip"
)

// Batch is how many messages one recvmmsg or sendmmsg moves at most.
const Batch = 64

// MaxSegments is how many packets one UDP GSO (or GRO) message carries at
// most: the kernel's limit for GRO.
const MaxSegments = 64

// ReadEach reads c in batches until it is closed, handing every packet and
// its sender to fn (the packet's bytes are valid only during the call).
// It returns the error that ended it: the socket closed, or a Reader that
// could not be made.
func ReadEach(c *net.UDPConn, fn func(b []byte, from netip.AddrPort), opts ...Option) error {
	r, err := NewReader(c, opts...)
	if err != nil {
		return err
	}
	for {
		n, err := r.Read()
		if err != nil {
			return err
		}
		for i := range n {
			fn(r.Packet(i))
		}
	}
}
