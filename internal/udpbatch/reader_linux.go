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
// sender's address). One goroutine reads.
type Reader struct {
	raw interface {
		Read(func(fd uintptr) bool) error
	}
	msgs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet4
	bufs  [][]byte

	recv  func(fd uintptr) bool // r.recvmmsg
	n     int                   // what the last recvmmsg received
	errno error
}

// NewReader reads c, an IPv4 socket.
func NewReader(c *net.UDPConn) (*Reader, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	r := &Reader{raw: raw, msgs: make([]mmsghdr, Batch), iovs: make([]unix.Iovec, Batch),
		names: make([]unix.RawSockaddrInet4, Batch), bufs: make([][]byte, Batch)}
	for i := range r.msgs {
		r.bufs[i] = make([]byte, 1500)
		r.iovs[i].Base = &r.bufs[i][0]
		r.iovs[i].SetLen(len(r.bufs[i]))
		r.msgs[i].hdr.Iov = &r.iovs[i]
		r.msgs[i].hdr.SetIovlen(1)
		r.msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&r.names[i]))
	}
	r.recv = r.recvmmsg
	return r, nil
}

// Read waits for packets and returns how many arrived (at most Batch);
// packet i is r.Packet(i), valid until the next Read. An error means the
// socket is closed.
func (r *Reader) Read() (int, error) {
	r.n, r.errno = 0, nil
	if err := r.raw.Read(r.recv); err != nil {
		return 0, err
	}
	return r.n, r.errno
}

// recvmmsg is one recvmmsg on fd for Read (made once: a closure built per
// call would be allocated per call).
func (r *Reader) recvmmsg(fd uintptr) bool {
	for i := range r.msgs {
		r.msgs[i].hdr.Namelen = unix.SizeofSockaddrInet4
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
	sa := &r.names[i]
	port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
	return r.bufs[i][:r.msgs[i].n], netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
}
