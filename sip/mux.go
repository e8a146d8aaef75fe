package sip

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/net/ipv4"
)

// This file holds the shared RTP port mode (--rtp-mux): instead of a socket
// per call, one socket per clock shard carries the RTP of every call on
// that shard. Packets are read in batches (recvmmsg) and handed to the call
// whose caller sent them; each tick's packets of the whole shard leave in
// batches (sendmmsg). A syscall then moves up to muxBatch packets instead
// of one.

// muxBatch is how many packets one recvmmsg or sendmmsg moves at most.
const muxBatch = 64

// rtpSocket is where a call's RTP goes: its own socket, or a shared one.
type rtpSocket struct {
	conn  *net.UDPConn
	mux   *muxShard // nil: conn is the call's own
	shard int       // the clock shard of the shared socket
}

// close gives back a call's own socket; a shared one stays.
func (r rtpSocket) close() {
	if r.mux == nil {
		r.conn.Close()
	}
}

func (r rtpSocket) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

// rtpSocket finds a new call's RTP socket: the next shared one, round
// robin, or a port of its own.
func (s *Server) rtpSocket() (rtpSocket, error) {
	if s.mux != nil {
		i := s.clock.pick()
		return rtpSocket{conn: s.mux.shards[i].conn, mux: s.mux.shards[i], shard: i}, nil
	}
	c, err := s.cfg.Ports.Listen(s.cfg.MediaIP)
	return rtpSocket{conn: c, shard: -1}, err
}

// rtpMux is the shared sockets, one per clock shard.
type rtpMux struct {
	shards []*muxShard
}

// muxShard is one shared socket: the calls it carries, found by their
// caller's address, and the batch of packets its clock shard sends.
type muxShard struct {
	conn *net.UDPConn
	pc   *ipv4.PacketConn

	mu        sync.RWMutex
	byAddr    map[netip.AddrPort]*media // latched calls, by the caller's address
	unlatched map[*media]struct{}       // calls whose caller has not sent yet
	strangers atomic.Uint64             // packets no call claimed

	// The send batch: filled and flushed by the clock shard's goroutine
	// under the clock shard's lock, so it needs no lock of its own.
	out   []ipv4.Message
	addrs []net.UDPAddr
	n     int
}

// newRTPMux binds n shared sockets on ip at the first n even ports of the
// range, and narrows the range to the ports above them (for what still
// needs its own socket: a transfer's bridge, SIPREC).
func newRTPMux(ip netip.Addr, ports *PortRange, n int) (*rtpMux, error) {
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
		x.shards = append(x.shards, &muxShard{conn: c, pc: ipv4.NewPacketConn(c),
			byAddr: map[netip.AddrPort]*media{}, unlatched: map[*media]struct{}{}})
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

// add makes m a call of the shard: its packets are handed to it once its
// caller is seen.
func (s *muxShard) add(m *media) {
	s.mu.Lock()
	s.unlatched[m] = struct{}{}
	s.mu.Unlock()
}

// remove forgets m.
func (s *muxShard) remove(m *media) {
	s.mu.Lock()
	delete(s.unlatched, m)
	for a, c := range s.byAddr {
		if c == m {
			delete(s.byAddr, a)
		}
	}
	s.mu.Unlock()
}

// relatch forgets m's caller address (a re-INVITE moved it): the next
// packet from the new address latches again.
func (s *muxShard) relatch(m *media) {
	s.remove(m)
	s.add(m)
}

// owner finds the call a packet from `from` is for. A latched caller is one
// map lookup under a read lock. A caller's first packet latches it to the
// call whose SDP gave exactly that address; or, for a caller behind NAT
// (its SDP names another IP), to the one call whose INVITE came from that
// IP. Two calls from one host are never told apart by IP alone on a
// shared port: a packet that reaches the port before its own call is
// registered would go to the other.
func (s *muxShard) owner(from netip.AddrPort) *media {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	s.mu.RLock()
	m, waiting := s.byAddr[from], len(s.unlatched) > 0
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
	var natted *media
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
	r, err := newBatchReader(s.conn)
	if err != nil {
		return
	}
	for {
		n, err := r.read()
		if err != nil {
			return // closed
		}
		for i := range n {
			b, from := r.packet(i)
			m := s.owner(from)
			if m == nil {
				continue
			}
			m.mu.Lock()
			digit, pressed := m.receive(b, from)
			onDTMF := m.onDTMF
			m.mu.Unlock()
			if pressed && onDTMF != nil {
				onDTMF(digit)
			}
		}
	}
}

// queue adds one packet to the tick's batch (the clock shard's lock held).
func (s *muxShard) queue(pkt []byte, to netip.AddrPort) {
	if s.n == len(s.out) {
		s.out = append(s.out, ipv4.Message{Buffers: [][]byte{make([]byte, 0, 12+FrameSize+srtpOverhead)}})
		s.addrs = append(s.addrs, net.UDPAddr{IP: make(net.IP, 4)})
		for i := range s.out { // the addresses moved with the slice
			s.out[i].Addr = &s.addrs[i]
		}
	}
	msg := &s.out[s.n]
	msg.Buffers[0] = append(msg.Buffers[0][:0], pkt...)
	a := &s.addrs[s.n]
	ip4 := to.Addr().Unmap().As4()
	copy(a.IP, ip4[:])
	a.Port = int(to.Port())
	s.n++
}

// flush sends the tick's batch (the clock shard's lock held).
func (s *muxShard) flush() {
	for sent := 0; sent < s.n; {
		end := min(s.n, sent+muxBatch)
		k, err := s.pc.WriteBatch(s.out[sent:end], 0)
		if err != nil || k == 0 {
			break // a full buffer or a closed socket: the rest of the tick is lost, as a dropped write would be
		}
		sent += k
	}
	s.n = 0
}
