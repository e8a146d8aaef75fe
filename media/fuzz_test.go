package media

import (
	"net/netip"
	"testing"

	"github.com/pion/rtp"
)

// FuzzReceive: any datagram on a call's RTP port is taken as the call's
// audio or keys only when it is RTP version 2 of a negotiated payload type,
// and is otherwise counted as foreign; nothing panics.
func FuzzReceive(f *testing.F) {
	f.Add([]byte{0x80, 0x00, 0x00, 0x01, 0, 0, 0, 160, 0, 0, 0, 7, 1, 2, 3})
	f.Add([]byte{0x80, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 7})
	f.Add([]byte{0x90, 0x65, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xaa, 0, 0})
	f.Add([]byte{0x80, 0x65, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0x80, 0, 160})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		from := netip.MustParseAddrPort("127.0.0.1:9")
		m := (&Engine{}).NewStream(StreamConfig{Params: Params{Remote: from, Codec: PCMU, DTMF: 101}, SSRC: 1})
		m.receive(pkt, from)
		m.receive(pkt, from)
		var p rtp.Packet
		ok := p.Unmarshal(pkt) == nil && p.Version == 2
		switch {
		case ok && p.PayloadType == PCMU.PayloadType:
			if m.stats.Foreign != 0 || m.rtp.Received != 2 {
				t.Fatalf("audio packet: foreign %d, received %d", m.stats.Foreign, m.rtp.Received)
			}
		case ok && p.PayloadType == 101:
			if m.stats.Foreign != 0 || m.rtp.Received != 0 {
				t.Fatalf("telephone-event: foreign %d, audio received %d", m.stats.Foreign, m.rtp.Received)
			}
		default:
			if m.stats.Foreign != 2 || m.rtp.Received != 0 {
				t.Fatalf("not ours (ok %v, pt %d): foreign %d, received %d", ok, p.PayloadType, m.stats.Foreign, m.rtp.Received)
			}
		}
		m.jb.read(m.caller) // reading what was taken never panics either
	})
}
