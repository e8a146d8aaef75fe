package media

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/botline/botline/internal/udpbatch"
)

// EngineConfig is what an Engine is built with.
type EngineConfig struct {
	// IP is the address RTP is bound on (and that signalling puts in SDP).
	IP netip.Addr
	// Ports is the range of calls' own ports; with Mux its first even
	// ports are the shared ones. The engine keeps its own copy.
	Ports PortRange
	// Mux carries every call's RTP on one shared port per clock shard
	// instead of a port per call: packets move in batches (recvmmsg,
	// sendmmsg). The far end must send from the address its SDP gives,
	// or declare its SSRC.
	Mux bool
	// NoOffload turns off the shared ports' UDP offloads (GSO on send,
	// GRO on receive; Linux): one packet per message.
	NoOffload bool
}

// Engine is the media side of a gateway: the clock that ticks every
// stream, the RTP ports, and with Mux the shared sockets. Its methods are
// safe for concurrent use.
type Engine struct {
	ip    netip.Addr
	ports PortRange
	clock *clock
	mux   *rtpMux // nil unless EngineConfig.Mux
}

// NewEngine starts the clock (one goroutine per core) and, with Mux, binds
// the shared ports. Close stops them.
func NewEngine(cfg EngineConfig) (*Engine, error) {
	e := &Engine{ip: cfg.IP, ports: cfg.Ports, clock: newClock()}
	if cfg.Mux {
		var opts []udpbatch.Option
		if cfg.NoOffload {
			opts = append(opts, udpbatch.WithoutOffload())
		}
		mux, err := newRTPMux(cfg.IP, &e.ports, len(e.clock.shards), opts...)
		if err != nil {
			e.clock.close()
			return nil, err
		}
		e.mux = mux
		for i, sh := range e.clock.shards { // their goroutines run already
			sh.mu.Lock()
			sh.out = mux.shards[i]
			sh.mu.Unlock()
		}
	}
	return e, nil
}

// Close stops the clock and closes the shared ports; the streams must
// have been stopped.
func (e *Engine) Close() {
	e.clock.close()
	if e.mux != nil {
		e.mux.close()
	}
}

// IP is the address RTP is bound on.
func (e *Engine) IP() netip.Addr { return e.ip }

// Socket finds a new call's RTP socket: the next shared one, round robin,
// or a port of its own.
func (e *Engine) Socket() (Socket, error) {
	if e.mux != nil {
		i := e.clock.pick()
		return Socket{conn: e.mux.shards[i].conn, mux: e.mux.shards[i], shard: i}, nil
	}
	return e.Listen()
}

// Listen binds a port of its own (never a shared one): a bridge's leg, a
// stream whose far end sends from an address nobody knows in advance.
func (e *Engine) Listen() (Socket, error) {
	c, err := e.ports.Listen(e.ip)
	return Socket{conn: c, shard: -1}, err
}

// ListenPair binds two ports of their own two apart (p and p+2), as a
// SIPREC answer's two streams: a sender replaying one capture of both
// (SIPp keeps the capture's port offsets) reaches both.
func (e *Engine) ListenPair() ([2]Socket, error) {
	p := &e.ports
	for range 64 {
		a, err := p.Listen(e.ip)
		if err != nil {
			return [2]Socket{}, err
		}
		port := a.LocalAddr().(*net.UDPAddr).Port
		if port+2 <= p.Max {
			b, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.ip, uint16(port+2))))
			if err == nil {
				return [2]Socket{{conn: a, shard: -1}, {conn: b, shard: -1}}, nil
			}
		}
		a.Close()
	}
	return [2]Socket{}, fmt.Errorf("no two free RTP ports two apart in %d-%d on %s", p.Min, p.Max, e.ip)
}

// Strangers counts the packets no call claimed on the shared ports (a
// call's own port counts its strangers in its Stats).
func (e *Engine) Strangers() uint64 {
	if e.mux == nil {
		return 0
	}
	return e.mux.strangers()
}
