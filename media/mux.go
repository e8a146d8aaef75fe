package media

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/botline/botline/internal/udpbatch"
)

// This file holds the shared RTP port mode (--rtp-mux): instead of a socket
// per call, one socket per clock shard carries the RTP of every call on
// that shard. Packets are read in batches (recvmmsg) and handed to the call
// whose caller sent them; each tick's packets of the whole shard leave in
// batches (sendmmsg). A syscall then moves up to udpbatch.Batch messages
// instead of one packet, and on Linux a message carries all the tick's
// packets to one far address (UDP GSO; GRO on the way in), so calls that
// share a far address (a trunk or SBC sending every call from one port)
// cross the kernel's stack once per 64 packets.

// Socket is where a call's RTP goes: a port of its own, or a shared one.
type Socket struct {
	conn  *net.UDPConn
	mux   *muxShard // nil: conn is the call's own
	shard int       // the clock shard of the shared socket; -1 for a call's own
}

// Close gives back a call's own port; a shared one stays.
func (r Socket) Close() {
	if r.mux == nil && r.conn != nil {
		r.conn.Close()
	}
}

// Port is the local UDP port: what the SDP gives.
func (r Socket) Port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// LocalAddr is the socket's local address.
func (r Socket) LocalAddr() net.Addr { return r.conn.LocalAddr() }

// rtpMux is the shared sockets, one per clock shard.
type rtpMux struct {
	shards []*muxShard
}

// muxShard is one shared socket: the calls it carries, found by their
// caller's address (and SSRC, for callers that declare it), and the batch
// of packets its clock shard sends.
type muxShard struct {
	conn *net.UDPConn

	mu        sync.RWMutex
	byAddr    map[netip.AddrPort]*Stream // latched calls, by the caller's address
	bySSRC    map[ssrcKey]*Stream        // calls whose offer declared their SSRC (a=ssrc)
	unlatched map[*Stream]struct{}       // calls whose caller has not sent yet
	strangers atomic.Uint64              // packets no call claimed

	// out is the send batch: filled and flushed by the clock shard's
	// goroutine under the clock shard's lock, so it needs no lock of its own.
	out  *udpbatch.Writer
	opts []udpbatch.Option // of the reader too
}

// ssrcKey finds a call that shares its caller's address with other calls
// (a trunk or a load generator sending every call from one port): the
// address and the SSRC its offer declared.
type ssrcKey struct {
	from netip.AddrPort
	ssrc uint32
}

// newRTPMux binds n shared sockets on ip at the first n even ports of the
// range, and narrows the range to the ports above them (for what still
// needs its own socket: a transfer's bridge, SIPREC).
func newRTPMux(ip netip.Addr, ports *PortRange, n int, opts ...udpbatch.Option) (*rtpMux, error) {
	if !ip.Is4() && !ip.Is4In6() {
		return nil, fmt.Errorf("--rtp-mux needs an IPv4 --media-ip (got %s)", ip)
	}
	lo := ports.Min + ports.Min%2
	if lo+2*n > ports.Max {
		return nil, fmt.Errorf("--rtp-mux needs %d even ports at the start of --rtp-ports %d-%d", n, ports.Min, ports.Max)
	}
	x := &rtpMux{}
	for i := range n {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip.Unmap(), uint16(lo+2*i))))
		if err != nil {
			x.close()
			return nil, fmt.Errorf("--rtp-mux port %d: %w", lo+2*i, err)
		}
		_ = c.SetReadBuffer(4 << 20) // a shard's every call arrives here
		_ = c.SetWriteBuffer(4 << 20)
		x.shards = append(x.shards, &muxShard{conn: c, out: udpbatch.NewWriter(c, 12+FrameSize+srtpOverhead, opts...), opts: opts,
			byAddr: map[netip.AddrPort]*Stream{}, bySSRC: map[ssrcKey]*Stream{}, unlatched: map[*Stream]struct{}{}})
	}
	ports.Min = lo + 2*n
	for _, s := range x.shards {
		go s.read()
	}
	return x, nil
}

func (x *rtpMux) close() {
	for _, s := range x.shards {
		s.conn.Close()
	}
}

// strangers counts packets no call claimed, over every shard.
func (x *rtpMux) strangers() uint64 {
	var n uint64
	for _, s := range x.shards {
		n += s.strangers.Load()
	}
	return n
}

// add makes m a call of the shard: a caller that declared its SSRC is
// found by its SDP address and that SSRC from its first packet on; any
// other's packets are handed to it once its caller is seen.
func (s *muxShard) add(m *Stream) {
	m.mu.Lock()
	key := ssrcKey{m.remote, m.remoteSSRC}
	m.latched = key.ssrc != 0
	m.mu.Unlock()
	s.mu.Lock()
	if key.ssrc != 0 {
		s.bySSRC[key] = m
	} else {
		s.unlatched[m] = struct{}{}
	}
	s.mu.Unlock()
}

// remove forgets m.
func (s *muxShard) remove(m *Stream) {
	s.mu.Lock()
	delete(s.unlatched, m)
	for a, c := range s.byAddr {
		if c == m {
			delete(s.byAddr, a)
		}
	}
	for k, c := range s.bySSRC {
		if c == m {
			delete(s.bySSRC, k)
		}
	}
	s.mu.Unlock()
}

// relatch forgets m's caller address (a re-INVITE moved it): the next
// packet from the new address latches again.
func (s *muxShard) relatch(m *Stream) {
	s.remove(m)
	s.add(m)
}

// owner finds the call packet b from `from` is for. A latched caller is one
// map lookup under a read lock; a caller that declared its SSRC, two. A
// caller's first packet latches it to the
// call whose SDP gave exactly that address; or, for a caller behind NAT
// (its SDP names another IP), to the one call whose INVITE came from that
// IP. Two calls from one host are never told apart by IP alone on a
// shared port: a packet that reaches the port before its own call is
// registered would go to the other.
func (s *muxShard) owner(b []byte, from netip.AddrPort) *Stream {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	s.mu.RLock()
	m, waiting := s.byAddr[from], len(s.unlatched) > 0
	if m == nil && len(s.bySSRC) > 0 && len(b) >= 12 {
		m = s.bySSRC[ssrcKey{from, binary.BigEndian.Uint32(b[8:12])}]
	}
	s.mu.RUnlock()
	if m != nil {
		return m
	}
	if !waiting { // a stranger, and no call to latch: no write lock
		s.strangers.Add(1)
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m = s.byAddr[from]; m != nil {
		return m
	}
	var natted *Stream
	ambiguous := false
	for c := range s.unlatched {
		c.mu.Lock()
		exact := c.remote == from
		nat := c.remote.Addr() != from.Addr() && c.signalIP == from.Addr()
		c.mu.Unlock()
		if exact {
			natted, ambiguous = c, false
			break
		}
		if nat {
			ambiguous = natted != nil
			natted = c
		}
	}
	if natted == nil || ambiguous {
		s.strangers.Add(1)
		return nil
	}
	delete(s.unlatched, natted)
	s.byAddr[from] = natted
	natted.mu.Lock()
	natted.remote, natted.latched = from, true
	natted.mu.Unlock()
	return natted
}

// read hands the shard's packets to their calls until the socket closes.
func (s *muxShard) read() {
	_ = udpbatch.ReadEach(s.conn, func(b []byte, from netip.AddrPort) {
		m := s.owner(b, from)
		if m == nil {
			return
		}
		m.mu.Lock()
		digit, pressed := m.receive(b, from)
		onDTMF := m.onDTMF
		m.mu.Unlock()
		if pressed && onDTMF != nil {
			onDTMF(digit)
		}
	}, s.opts...)
}

// queue adds one packet to the tick's batch (the clock shard's lock held).
func (s *muxShard) queue(pkt []byte, to netip.AddrPort) { s.out.Queue(pkt, to) }

// flush sends the tick's batch (the clock shard's lock held). A full
// buffer or a closed socket loses the rest of the tick, as a dropped write
// would.
func (s *muxShard) flush() { s.out.Flush() }
