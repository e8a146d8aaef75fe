package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

const (
	magic      = 0xa1b2c3d4
	linkEther  = 1
	ethHdr     = 14
	ipv4Hdr    = 20
	udpHdr     = 8
	maxSnapLen = 65535
)

// Packet is one UDP datagram of a capture.
type Packet struct {
	Time     time.Time
	Src, Dst netip.AddrPort
	Payload  []byte
}

// Writer writes UDP datagrams as a capture.
type Writer struct {
	w   io.Writer
	err error
}

// NewWriter writes the file header.
func NewWriter(w io.Writer) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], maxSnapLen)
	binary.LittleEndian.PutUint32(h[20:], linkEther)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	return &Writer{w: w}, nil
}

// Write adds one datagram (IPv4 addresses only).
func (w *Writer) Write(p Packet) error {
	if w.err != nil {
		return w.err
	}
	if !p.Src.Addr().Is4() || !p.Dst.Addr().Is4() {
		return errors.New("pcap: IPv4 addresses only")
	}
	n := ethHdr + ipv4Hdr + udpHdr + len(p.Payload)
	b := make([]byte, 16+n)
	us := p.Time.UnixMicro()
	binary.LittleEndian.PutUint32(b[0:], uint32(us/1e6))
	binary.LittleEndian.PutUint32(b[4:], uint32(us%1e6))
	binary.LittleEndian.PutUint32(b[8:], uint32(n))
	binary.LittleEndian.PutUint32(b[12:], uint32(n))
	e := b[16:]
	binary.BigEndian.PutUint16(e[12:], 0x0800)
	ip := e[ethHdr:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(ipv4Hdr+udpHdr+len(p.Payload)))
	ip[8], ip[9] = 64, 17
	src, dst := p.Src.Addr().As4(), p.Dst.Addr().As4()
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	binary.BigEndian.PutUint16(ip[10:], checksum(ip[:ipv4Hdr]))
	udp := ip[ipv4Hdr:]
	binary.BigEndian.PutUint16(udp[0:], p.Src.Port())
	binary.BigEndian.PutUint16(udp[2:], p.Dst.Port())
	binary.BigEndian.PutUint16(udp[4:], uint16(udpHdr+len(p.Payload)))
	copy(udp[udpHdr:], p.Payload)
	_, w.err = w.w.Write(b)
	return w.err
}

func checksum(b []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// ReadAll reads every UDP-over-IPv4 datagram of a capture (Ethernet link
// type, microsecond or nanosecond timestamps); other packets are skipped.
func ReadAll(r io.Reader) ([]Packet, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("pcap header: %w", err)
	}
	var bo binary.ByteOrder = binary.LittleEndian
	nano := false
	switch binary.LittleEndian.Uint32(h[:]) {
	case magic:
	case 0xa1b23c4d:
		nano = true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, errors.New("pcap: not a capture file")
	}
	if bo.Uint32(h[20:]) != linkEther {
		return nil, fmt.Errorf("pcap: link type %d, want Ethernet", bo.Uint32(h[20:]))
	}
	var out []Packet
	var rec [16]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return out, nil // a capture cut short by its writer's end
			}
			return out, err
		}
		sec, frac, incl := bo.Uint32(rec[0:]), bo.Uint32(rec[4:]), bo.Uint32(rec[8:])
		if incl > maxSnapLen*4 {
			return out, errors.New("pcap: record too large")
		}
		b := make([]byte, incl)
		if _, err := io.ReadFull(r, b); err != nil {
			return out, nil
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		if len(b) < ethHdr+ipv4Hdr+udpHdr || binary.BigEndian.Uint16(b[12:]) != 0x0800 {
			continue
		}
		ip := b[ethHdr:]
		ihl := int(ip[0]&0x0f) * 4
		if ip[9] != 17 || len(ip) < ihl+udpHdr {
			continue
		}
		udp := ip[ihl:]
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
		ulen := int(binary.BigEndian.Uint16(udp[4:]))
		end := min(len(udp), max(ulen, udpHdr))
		out = append(out, Packet{Time: time.Unix(int64(sec), ns), Src: src, Dst: dst, Payload: udp[udpHdr:end]})
	}
}
