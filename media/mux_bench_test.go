package media

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// BenchmarkMuxOwner finds the call of a packet on a shared port among
// 1,000 calls that all come from one address (a trunk, or the load
// generator), told apart by their declared SSRC: one packet per op, no
// allocation.
func BenchmarkMuxOwner(b *testing.B) {
	s := &muxShard{byAddr: map[netip.AddrPort]*Stream{}, bySSRC: map[ssrcKey]*Stream{}, unlatched: map[*Stream]struct{}{}}
	from := netip.MustParseAddrPort("192.0.2.10:40000")
	calls := make([]*Stream, 1000)
	for i := range calls {
		calls[i] = &Stream{remote: from, remoteSSRC: uint32(1000 + i)}
		s.add(calls[i])
	}
	pkt := make([]byte, 172)
	pkt[0] = 0x80
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		binary.BigEndian.PutUint32(pkt[8:12], uint32(1000+i%1000))
		if s.owner(pkt, from) != calls[i%1000] {
			b.Fatal("wrong call")
		}
		i++
	}
}
