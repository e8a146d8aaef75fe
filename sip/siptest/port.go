package siptest

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/internal/udpbatch"
)

// RTPPort is one RTP socket many calls share, as a load generator or a
// trunk sends them: the far end tells the calls apart by the SSRC each
// offer declares, and the port tells the far end's streams apart by their
// source address and the SSRC each answer declared. Packets are received
// in batches (recvmmsg) by one goroutine, and sent in batches (sendmmsg)
// with Queue and Flush.
type RTPPort struct {
	conn *net.UDPConn

	mu    sync.RWMutex
	calls map[portKey]*Call
	// Strangers counts packets no call claimed.
	strangers atomic.Uint64

	out *udpbatch.Writer // Queue and Flush: one goroutine
}

// portKey finds a call: the far end's address, and the SSRC its answer
// declared (0 when it declared none: the address alone).
type portKey struct {
	from netip.AddrPort
	ssrc uint32
}

// NewRTPPort opens a shared RTP socket on the phone's IPv4 address, open
// until Close; opts choose how its batches move (udpbatch).
func (p *Phone) NewRTPPort(opts ...udpbatch.Option) (*RTPPort, error) {
	ip, err := netip.ParseAddr(p.ip)
	if err != nil || !ip.Unmap().Is4() {
		return nil, fmt.Errorf("shared rtp port: %q is not an IPv4 address", p.ip)
	}
	conn, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), 0)))
	if err != nil {
		return nil, fmt.Errorf("shared rtp port: %w", err)
	}
	_ = conn.SetReadBuffer(4 << 20) // every call's packets arrive here
	_ = conn.SetWriteBuffer(4 << 20)
	r := &RTPPort{conn: conn, calls: map[portKey]*Call{}, out: udpbatch.NewWriter(conn, 1500, opts...)}
	go r.read(opts)
	return r, nil
}

// Close closes the socket; the calls on it hear nothing more.
func (r *RTPPort) Close() { r.conn.Close() }

// Strangers is how many packets arrived that no call claimed.
func (r *RTPPort) Strangers() uint64 { return r.strangers.Load() }

func (r *RTPPort) add(c *Call) {
	r.mu.Lock()
	r.calls[portKey{c.Remote, c.remoteSSRC}] = c
	r.mu.Unlock()
}

func (r *RTPPort) remove(c *Call) {
	r.mu.Lock()
	if r.calls[portKey{c.Remote, c.remoteSSRC}] == c {
		delete(r.calls, portKey{c.Remote, c.remoteSSRC})
	}
	r.mu.Unlock()
}

// read hands each packet to its call until the socket closes.
func (r *RTPPort) read(opts []udpbatch.Option) {
	_ = udpbatch.ReadEach(r.conn, func(b []byte, from netip.AddrPort) {
		if c := r.owner(b, from); c != nil {
			c.receive(b, time.Now())
		} else {
			r.strangers.Add(1)
		}
	}, opts...)
}

// owner is the call packet b from `from` is for: by address alone when
// the far end declared no SSRC, else by address and SSRC.
func (r *RTPPort) owner(b []byte, from netip.AddrPort) *Call {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	r.mu.RLock()
	defer r.mu.RUnlock()
	if c := r.calls[portKey{from, 0}]; c != nil {
		return c
	}
	if len(b) < 12 {
		return nil
	}
	return r.calls[portKey{from, binary.BigEndian.Uint32(b[8:12])}]
}

// Queue adds call c's next 20 ms packet (as SendPacket builds it) to the
// batch Flush sends. c must be a call of this port; one goroutine queues
// and flushes.
func (r *RTPPort) Queue(c *Call, samples []int16) error {
	pkt, err := c.nextPacket(samples)
	if err != nil {
		return err
	}
	r.out.Queue(pkt, c.dst)
	return nil
}

// Flush sends the queued packets, udpbatch.Batch per syscall, and returns
// how many were sent.
func (r *RTPPort) Flush() int { return r.out.Flush() }
