package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr: a message and the length received into it.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

// Reader reads a socket's packets with recvmmsg into buffers and addresses
// it owns: no allocation per packet (x/net's ReadBatch allocates each
// sender's address). It asks the kernel for UDP GRO, so a sender's
// same-sized packets that arrive together (a GSO message on loopback, a
// NIC's coalesced flow) come as one message, which Read cuts back into
// packets. One goroutine reads.
type Reader struct {
	raw interface {
		Read(func(fd uintptr) bool) error
	}
	msgs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	ctrl  []byte // a UDP_GRO control message per message
	bufs  [][]byte
	gro   bool
	pkts  []segment             // the packets of the last Read
	recv  func(fd uintptr) bool // r.recvmmsg
	n     int                   // messages the last recvmmsg received
	errno error
}

// segment is one packet of a received message.
type segment struct{ msg, off, len int32 }

// groBuf is a message's buffer when GRO may coalesce packets into it: a
// whole GRO message (up to 64 KiB) must fit, or its tail is cut off.
const groBuf = 1 << 16

const groCtrl = (unix.SizeofCmsghdr + 4 + 7) &^ 7 // CMSG_SPACE(sizeof(int))

// NewReader reads c, an IPv4 socket.
func NewReader(c *net.UDPConn, opts ...Option) (*Reader, error) {
	o := newOptions(opts)
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &Reader{raw: raw, msgs: make([]mmsghdr, Batch), iovs: make([]unix.Iovec, Batch),
		names: make([]unix.RawSockaddrInet4, Batch), bufs: make([][]byte, Batch)}
	if o.offload {
		var serr error
		if err := raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1) }); err == nil && serr == nil {
			r.gro = true
		}
	}
	size := 1500
	if r.gro {
		size = groBuf
		r.ctrl = make([]byte, Batch*groCtrl)
	}
	// one allocation: the kernel touches only the pages it fills
	mem := make([]byte, Batch*size)
	for i := range r.msgs {
		r.bufs[i] = mem[i*size : (i+1)*size : (i+1)*size]
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(size)
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.SetIovlen(1)
		r.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.pkts = make([]segment, 0, Batch)
	r.recv = r.recvmmsg
	return r, nil
}

// Read waits for packets and returns how many arrived; packet i is
// r.Packet(i), valid until the next Read. An error means the socket is
// closed.
func (r *Reader) Read() (int, error) {
	r.n, r.errno = 0, nil
	if err := r.raw.Read(r.recv); err != nil {
		return 0, err
	}
	r.pkts = r.pkts[:0]
	for i := range r.n {
		n := int32(r.msgs[i].n)
		seg := r.segSize(i)
		if seg <= 0 || seg >= n {
			r.pkts = append(r.pkts, segment{int32(i), 0, n})
			continue
		}
		for off := int32(0); off < n; off += seg {
			r.pkts = append(r.pkts, segment{int32(i), off, min(seg, n-off)})
		}
	}
	return len(r.pkts), r.errno
}

// segSize is the GRO segment size of message i, or 0 if the kernel gave
// none (the message is one packet).
func (r *Reader) segSize(i int) int32 {
	h := &r.msgs[i].hdr
	if !r.gro || h.Controllen < unix.SizeofCmsghdr+4 {
		return 0
	}
	c := r.ctrl[i*groCtrl : (i+1)*groCtrl]
	cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
	if cm.Level != unix.SOL_UDP || cm.Type != unix.UDP_GRO {
		return 0
	}
	return int32(binary.NativeEndian.Uint32(c[unix.SizeofCmsghdr:]))
}

// recvmmsg is one recvmmsg on fd for Read (made once: a closure built per
// call would be allocated per call).
func (r *Reader) recvmmsg(fd uintptr) bool {
	for i := range r.msgs {
		h := &r.msgs[i].hdr
		h.Namelen = unix.SizeofSockaddrInet4
		if r.gro {
			h.Control = &r.ctrl[i*groCtrl]
			h.SetControllen(groCtrl)
		}
	}
	got, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.msgs[0])), uintptr(len(r.msgs)),
		unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		return false // wait in the poller
	}
	if e != 0 {
		r.errno = e
		return true
	}
	r.n = int(got)
	return true
}

// Packet returns received packet i and its sender.
func (r *Reader) Packet(i int) ([]byte, netip.AddrPort) {
	p := r.pkts[i]
	sa := &r.names[p.msg]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	return r.bufs[p.msg][p.off : p.off+p.len], netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
}
