package media

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// PortRange hands out even UDP ports for RTP from [Min, Max], starting
// each search at a random port, so a stranger cannot guess the next call's.
type PortRange struct {
	Min, Max int
}

// ParsePortRange parses "20000-30000".
func ParsePortRange(s string) (*PortRange, error) {
	lo, hi, ok := strings.Cut(s, "-")
	a, err1 := strconv.Atoi(strings.TrimSpace(lo))
	b, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if !ok || err1 != nil || err2 != nil || a < 1 || b > 65535 || a > b {
		return nil, fmt.Errorf("rtp port range %q: want MIN-MAX within 1-65535", s)
	}
	return &PortRange{Min: a, Max: b}, nil
}

// Listen binds a UDP socket on ip at the next free even port of the range.
func (p *PortRange) Listen(ip netip.Addr) (*net.UDPConn, error) {
	lo := p.Min + p.Min%2
	n := (p.Max-lo)/2 + 1
	if n <= 0 {
		return nil, fmt.Errorf("rtp port range %d-%d holds no even port", p.Min, p.Max)
	}
	start := rand.IntN(n)
	for k := range n {
		port := lo + 2*((start+k)%n)
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port))))
		if err == nil {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no free RTP port in %d-%d on %s", p.Min, p.Max, ip)
}
