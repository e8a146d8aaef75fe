package udpbatch

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// maxGSOBytes bounds one GSO message's payload (an IP datagram's 64 KiB,
// less the headers).
const maxGSOBytes = 65000

// Writer queues packets and sends them with sendmmsg, Batch messages per
// syscall. Packets queued for one destination with one size leave as one
// UDP GSO message (UDP_SEGMENT, up to MaxSegments packets): the kernel
// carries them through its stack as one and cuts them into datagrams at
// the end (on loopback, a receiver that asked for UDP GRO takes them as
// one). Where the kernel or the route refuses GSO, the Writer turns it off
// and sends one packet per message. Its buffers grow to the largest batch
// queued and are reused. It is not safe for concurrent use: one goroutine
// queues and flushes.
type Writer struct {
	raw  syscall.RawConn
	size int // capacity of each packet buffer
	gso  bool

	bufs [][]byte
	dsts []netip.AddrPort
	n    int

	// built by Flush, reused
	open   map[netip.AddrPort]int32 // a destination's message still taking packets
	groups []group
	of     []int32 // the message of each packet
	msgs   []mmsghdr
	iovs   []unix.Iovec
	names  []unix.RawSockaddrInet4
	ctrl   []byte // a UDP_SEGMENT control message per message
	send   func(fd uintptr) bool
	from   int // the first message of the sendmmsg in progress
	to     int
	sent   int // messages of this sendmmsg that went
	errno  error

	messages uint64
}

// group is one message being built: its destination, its segment size,
// how many packets and bytes it holds, and where its iovecs start.
type group struct {
	dst    netip.AddrPort
	seg    int
	count  int
	bytes  int
	closed bool // a shorter packet ended it: GSO's last segment may be short
	iov    int
}

const ctrlSpace = (unix.SizeofCmsghdr + 2 + 7) &^ 7 // CMSG_SPACE(sizeof(uint16))

// NewWriter sends on c, an IPv4 socket; size is the largest packet queued.
func NewWriter(c *net.UDPConn, size int, opts ...Option) *Writer {
	o := newOptions(opts)
	w := &Writer{size: size, gso: o.offload, open: map[netip.AddrPort]int32{}}
	raw, err := c.SyscallConn()
	if err != nil { // not a socket: every Flush sends nothing
		return w
	}
	w.raw = raw
	w.send = w.sendmmsg
	return w
}

// Queue copies pkt into the batch, to be sent to `to` at the next Flush.
func (w *Writer) Queue(pkt []byte, to netip.AddrPort) {
	if w.n == len(w.bufs) {
		w.bufs = append(w.bufs, make([]byte, 0, max(w.size, len(pkt))))
		w.dsts = append(w.dsts, netip.AddrPort{})
	}
	w.bufs[w.n] = append(w.bufs[w.n][:0], pkt...)
	w.dsts[w.n] = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	w.n++
}

// Queued is how many packets wait for Flush.
func (w *Writer) Queued() int { return w.n }

// Messages is how many messages (datagrams, or GSO messages of several)
// the Writer has sent.
func (w *Writer) Messages() uint64 { return w.messages }

// Flush sends the queued packets and empties the queue. It returns how
// many were sent; a closed socket loses the rest, as a dropped write
// would.
func (w *Writer) Flush() int {
	if w.n == 0 {
		return 0
	}
	defer func() { w.n = 0 }()
	if w.raw == nil {
		return 0
	}
	w.build()
	sent := w.sendAll()
	if (w.errno == unix.EIO || w.errno == unix.EINVAL) && w.gso {
		// The route or the kernel refused GSO (EIO: no checksum offload on
		// the way out; EINVAL: a kernel without UDP_SEGMENT, or a packet
		// over the path's MTU): turn it off, and send what did not go one
		// packet per message.
		w.gso = false
		w.keepUnsent()
		w.build()
		sent += w.sendAll()
	}
	return sent
}

// build groups the queued packets into messages and lays out their
// iovecs, addresses and control messages.
func (w *Writer) build() {
	w.groups = w.groups[:0]
	w.of = w.of[:0]
	clear(w.open)
	for i := range w.n {
		size, dst := len(w.bufs[i]), w.dsts[i]
		g := int32(-1)
		if w.gso {
			if k, ok := w.open[dst]; ok {
				m := &w.groups[k]
				if !m.closed && m.count < MaxSegments && size <= m.seg && m.bytes+size <= maxGSOBytes {
					g = k
					m.count++
					m.bytes += size
					m.closed = size < m.seg
				}
			}
		}
		if g < 0 {
			g = int32(len(w.groups))
			w.groups = append(w.groups, group{dst: dst, seg: size, count: 1, bytes: size})
			w.open[dst] = g
		}
		w.of = append(w.of, g)
	}
	// each message's iovecs are contiguous, in the order queued
	iov := 0
	for k := range w.groups {
		w.groups[k].iov = iov
		iov += w.groups[k].count
	}
	w.iovs = grow(w.iovs, w.n)
	for k := range w.groups {
		w.groups[k].count = 0 // refilled as the iovecs are placed
	}
	for i := range w.n {
		m := &w.groups[w.of[i]]
		v := &w.iovs[m.iov+m.count]
		v.Base = unsafe.SliceData(w.bufs[i])
		v.SetLen(len(w.bufs[i]))
		m.count++
	}
	nm := len(w.groups)
	w.msgs = grow(w.msgs, nm)
	w.names = grow(w.names, nm)
	w.ctrl = grow(w.ctrl, nm*ctrlSpace)
	for k := range w.groups {
		m, h := &w.groups[k], &w.msgs[k].hdr
		sa := &w.names[k]
		sa.Family = unix.AF_INET
		sa.Addr = m.dst.Addr().As4()
		binary.BigEndian.PutUint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:], m.dst.Port())
		*h = unix.Msghdr{Name: (*byte)(unsafe.Pointer(sa)), Namelen: unix.SizeofSockaddrInet4, Iov: &w.iovs[m.iov]}
		h.SetIovlen(m.count)
		if m.count > 1 {
			c := w.ctrl[k*ctrlSpace : (k+1)*ctrlSpace]
			cm := (*unix.Cmsghdr)(unsafe.Pointer(&c[0]))
			cm.Level, cm.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			cm.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(c[unix.SizeofCmsghdr:], uint16(m.seg))
			h.Control = &c[0]
			h.SetControllen(ctrlSpace)
		}
		w.msgs[k].n = 0
	}
}

// sendAll sends the built messages, Batch per sendmmsg, and returns how
// many packets went. It stops at the first error (in w.errno).
func (w *Writer) sendAll() int {
	w.errno = nil
	sent := 0
	for w.from = 0; w.from < len(w.groups); {
		w.to = min(len(w.groups), w.from+Batch)
		w.sent = 0
		if err := w.raw.Write(w.send); err != nil {
			w.errno = err
		}
		for k := w.from; k < w.from+w.sent; k++ {
			sent += w.groups[k].count
		}
		w.messages += uint64(w.sent)
		w.from += w.sent
		if w.errno != nil || w.sent == 0 {
			break
		}
	}
	return sent
}

// sendmmsg is one sendmmsg on fd for sendAll (made once: a closure built
// per call would be allocated per call).
func (w *Writer) sendmmsg(fd uintptr) bool {
	got, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.msgs[w.from])), uintptr(w.to-w.from),
		unix.MSG_DONTWAIT, 0, 0)
	if e == unix.EAGAIN {
		return false // wait in the poller for room
	}
	if e != 0 {
		w.errno = e
		return true
	}
	w.sent = int(got)
	return true
}

// keepUnsent leaves in the queue only the packets the last sendAll did
// not send, in order.
func (w *Writer) keepUnsent() {
	k := 0
	for i := range w.n {
		if int(w.of[i]) >= w.from {
			w.bufs[k], w.bufs[i] = w.bufs[i], w.bufs[k]
			w.dsts[k] = w.dsts[i]
			k++
		}
	}
	w.n = k
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
