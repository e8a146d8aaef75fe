package media

import (
	"net"
	"net/netip"

	"github.com/pion/rtp"
)

// bridgeLeg is the far leg of a bridged transfer: its socket, where it
// wants RTP, and its codec and telephone-event type.
type bridgeLeg struct {
	conn   *net.UDPConn
	remote netip.AddrPort
	codec  Codec
	dtmfPT uint8
	done   chan struct{}
}

// Bridge starts relaying the call's RTP to and from a transfer target's
// leg, received on sock (from Engine.Listen; the stream owns it from now
// on) and sent where leg says, in its codec; the clock no longer sends the
// gateway's own audio, and the sink gets no more frames.
func (m *Stream) Bridge(sock Socket, leg Params) {
	b := &bridgeLeg{conn: sock.conn, remote: leg.Remote, codec: leg.Codec, dtmfPT: leg.DTMF, done: make(chan struct{})}
	m.mu.Lock()
	m.leg = b
	m.mu.Unlock()
	go m.runLeg(b)
}

// forward relays one caller packet (already parsed into m.pkt from b) to
// the leg; m.mu is held.
func (m *Stream) forward(b []byte) {
	leg := m.leg
	var h rtp.Header
	off, err := h.Unmarshal(b)
	if err != nil {
		return
	}
	switch h.PayloadType {
	case m.codec.PayloadType:
		Translate(b[off:], m.codec, leg.codec)
		b[1] = b[1]&0x80 | leg.codec.PayloadType
	case m.dtmfPT:
		if leg.dtmfPT == 0 {
			return
		}
		b[1] = b[1]&0x80 | leg.dtmfPT
	default:
		return
	}
	_, _ = leg.conn.WriteToUDPAddrPort(b, leg.remote)
}

// runLeg relays the leg's packets to the caller until the leg's socket is
// closed.
func (m *Stream) runLeg(leg *bridgeLeg) {
	defer close(leg.done)
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, from, err := leg.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if from.Addr().Unmap() != leg.remote.Addr().Unmap() {
			continue // only the target's host speaks on its leg
		}
		if b, remote, ok := m.fromLeg(leg, &h, buf, n); ok {
			_, _ = m.sock.conn.WriteToUDPAddrPort(b, remote)
		}
	}
}

// fromLeg turns the leg's packet buf[:n] into the caller's: its payload
// type (and G.711 law) mapped, encrypted when the caller's media is SRTP.
// It reports false for a packet not to relay.
func (m *Stream) fromLeg(leg *bridgeLeg, h *rtp.Header, buf []byte, n int) ([]byte, netip.AddrPort, bool) {
	b := buf[:n]
	off, err := h.Unmarshal(b)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch h.PayloadType {
	case leg.codec.PayloadType:
		Translate(b[off:], leg.codec, m.codec)
		b[1] = b[1]&0x80 | m.codec.PayloadType
	case leg.dtmfPT:
		if m.dtmfPT == 0 {
			return nil, netip.AddrPort{}, false
		}
		b[1] = b[1]&0x80 | m.dtmfPT
	default:
		return nil, netip.AddrPort{}, false
	}
	if m.srtp != nil {
		if len(buf) < n+srtpOverhead {
			return nil, netip.AddrPort{}, false // never relay in the clear
		}
		if b, err = m.srtp.encrypt(buf, n); err != nil {
			return nil, netip.AddrPort{}, false
		}
	}
	return b, m.remote, m.remote.IsValid()
}
