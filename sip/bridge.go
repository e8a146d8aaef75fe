package sip

import (
	"net"
	"net/netip"

	"github.com/pion/rtp"
)

// alawToUlaw and ulawToAlaw translate G.711 bytes between the two laws, for
// a bridge whose legs negotiated different ones (filled by codec.go's init,
// after the decode tables).
var alawToUlaw, ulawToAlaw [256]byte

// translate rewrites a payload from one law to the other in place.
func translate(p []byte, from, to Codec) {
	if from.Name == to.Name {
		return
	}
	t := &alawToUlaw
	if from.Name == "PCMU" {
		t = &ulawToAlaw
	}
	for i, b := range p {
		p[i] = t[b]
	}
}

// bridgeLeg is the far leg of a bridged transfer: its socket, where it
// wants RTP, and its codec and telephone-event type.
type bridgeLeg struct {
	conn   *net.UDPConn
	remote netip.AddrPort
	codec  Codec
	dtmfPT uint8
	done   chan struct{}
}

// bridge starts relaying the call's RTP to and from the leg; the clock no
// longer sends the gateway's own audio, and the sink gets no more frames.
func (m *media) bridge(conn *net.UDPConn, answer *Offer) {
	b := &bridgeLeg{conn: conn, remote: answer.Remote, codec: answer.Codec, done: make(chan struct{})}
	if answer.HasDTMF {
		b.dtmfPT = answer.DTMF
	}
	m.mu.Lock()
	m.leg = b
	m.mu.Unlock()
	go m.runLeg(b)
}

// forward relays one caller packet (already parsed into m.pkt from b) to
// the leg; m.mu is held.
func (m *media) forward(b []byte) {
	leg := m.leg
	var h rtp.Header
	off, err := h.Unmarshal(b)
	if err != nil {
		return
	}
	switch h.PayloadType {
	case m.codec.PayloadType:
		translate(b[off:], m.codec, leg.codec)
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
func (m *media) runLeg(leg *bridgeLeg) {
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
func (m *media) fromLeg(leg *bridgeLeg, h *rtp.Header, buf []byte, n int) ([]byte, netip.AddrPort, bool) {
	b := buf[:n]
	off, err := h.Unmarshal(b)
	if err != nil {
		return nil, netip.AddrPort{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	switch h.PayloadType {
	case leg.codec.PayloadType:
		translate(b[off:], leg.codec, m.codec)
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
