package sip

import (
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// FrameSize is the samples in one 20 ms frame at 8 kHz.
const FrameSize = 160

const (
	frameTime = 20 * time.Millisecond
	// playoutDelay is how long received audio waits in the jitter buffer.
	playoutDelay = 60 * time.Millisecond
	// maxCatchUp bounds how many overdue frames a late tick still sends.
	maxCatchUp = 10
	// maxSkip bounds how many overdue frames a late tick records (as they
	// arrived) before jumping to now.
	maxSkip = 50
)

// AudioSink receives a call's audio, one 20 ms frame per tick of the call's
// clock: what the caller said and what the gateway played to the caller.
// The slices are reused after the call returns.
type AudioSink interface {
	WriteAudio(caller, played []int16)
}

// MediaStats counts a call's RTP. Received, Lost and Jitter describe the
// caller's audio stream; Late counts packets that arrived after their time
// was played out; Foreign counts packets that were not the call's audio or
// events.
type MediaStats struct {
	Received, Lost, Sent, Late, Foreign uint64
	Strangers                           uint64 // packets from a source other than the caller's, dropped
	Skipped                             uint64 // frames not sent because the clock ran behind
	SRTPFailed                          uint64 // SRTP packets that failed authentication or replay checks, dropped
	Jitter                              time.Duration
}

// media runs one call's RTP: its goroutine receives packets into the jitter
// buffer; every 20 ms the shared clock reads a frame out, hands it to the
// sink and sends a frame to the caller. mu (this call's only) orders the two.
type media struct {
	mu       sync.Mutex
	shard    *clockShard
	shardIdx int

	// sock is the call's RTP socket: its own, or with --rtp-mux a shared
	// one, whose reader hands this call its packets and where ticks queue
	// ours.
	sock   rtpSocket
	remote netip.AddrPort // where the caller's RTP comes from and ours goes
	// latched: remote is the source the caller's RTP was seen from; every
	// other source is dropped. Until then the first packet from the SDP's
	// address, or from the SDP's or the signalling's IP (a caller behind
	// NAT), latches (symmetric RTP).
	latched bool
	// remoteSSRC is the SSRC the caller's offer declared (a=ssrc), 0 if
	// none: on a shared port it tells apart calls from one address.
	remoteSSRC uint32
	signalIP   netip.Addr
	codec      Codec
	dtmfPT     uint8
	sink       AudioSink
	log        *slog.Logger

	jb     *jitterBuffer
	pkt    rtp.Packet
	out    rtp.Packet
	rbuf   []byte
	sbuf   []byte
	caller []int16
	played []int16
	stats  MediaStats
	rtp    RTPStats
	// silence is one encoded frame of silence: what the caller hears while
	// nothing plays, encoded once.
	silence []byte
	// queue is audio waiting to be played to the caller (8 kHz PCM), in order.
	queue []clip
	qpos  int
	// dtmfIn finds key presses in the caller's events; dtmfOut sends keys.
	dtmfIn  DTMFDetector
	dtmfOut dtmfSender
	onDTMF  func(digit byte) // called on the media goroutine, m.mu not held
	// hold: the caller put the call on hold (sendonly/inactive): send nothing.
	hold bool
	// leg, once set, is a transfer target the call's RTP is relayed to.
	leg *bridgeLeg
	// srtp, when the call is encrypted, decrypts what comes in and
	// encrypts what goes out (under mu).
	srtp *srtpSession

	timeout   time.Duration // hang up after this long without RTP; 0 = never
	lastRecv  time.Time
	onTimeout func() // called once, on the media goroutine
	timedOut  bool

	stopOnce sync.Once
	done     chan struct{}
}

// mediaConfig is what a call's media is built with.
type mediaConfig struct {
	sock  rtpSocket // the call's RTP socket, its own or shared (--rtp-mux)
	offer *Offer    // the caller's address, codec and telephone-event type
	ssrc  uint32    // of what the gateway sends
	log   *slog.Logger
	// signalIP is where the call's INVITE came from: a caller behind NAT
	// sends its RTP from this IP rather than its SDP's.
	signalIP netip.Addr
	// timeout hangs up after this long without RTP (0 = never): onTimeout
	// is called once, on the clock's goroutine.
	timeout   time.Duration
	onTimeout func()
	// onDTMF is told of each key press, on the media goroutine.
	onDTMF func(digit byte)
	// srtp, if set, encrypts the call's media.
	srtp *srtpSession
}

func newMedia(cfg mediaConfig) *media {
	offer, ssrc := cfg.offer, cfg.ssrc
	m := &media{
		sock: cfg.sock, remote: offer.Remote, remoteSSRC: offer.SSRC, codec: offer.Codec, log: cfg.log, signalIP: cfg.signalIP.Unmap(),
		timeout: cfg.timeout, onTimeout: cfg.onTimeout, onDTMF: cfg.onDTMF, srtp: cfg.srtp,
		jb:     newJitterBuffer(uint32(playoutDelay.Milliseconds() * 8)),
		rbuf:   make([]byte, 1500),
		sbuf:   make([]byte, 12+FrameSize+srtpOverhead),
		caller: make([]int16, FrameSize),
		played: make([]int16, FrameSize),
		done:   make(chan struct{}),

		shardIdx: -1,
	}
	if offer.HasDTMF {
		m.dtmfPT = offer.DTMF
	}
	m.out.Header = rtp.Header{Version: 2, PayloadType: offer.Codec.PayloadType, SSRC: ssrc, SequenceNumber: uint16(ssrc >> 7), Timestamp: ssrc * 3}
	m.out.Payload = make([]byte, FrameSize)
	m.silence = make([]byte, FrameSize)
	offer.Codec.Encode(m.silence, m.played)
	return m
}

// start joins the clock, handing each frame to sink, and receives until
// stop.
func (m *media) start(c *clock, sink AudioSink) {
	m.sink = sink
	m.lastRecv = time.Now()
	if m.sock.mux != nil { // the shared socket's reader delivers; no goroutine of its own
		c.add(m, m.sock.shard)
		m.sock.mux.add(m)
		return
	}
	c.add(m, -1)
	go m.run()
}

func (m *media) run() {
	defer close(m.done)
	for {
		n, from, err := m.sock.conn.ReadFromUDPAddrPort(m.rbuf)
		if err != nil {
			return // closed by stop
		}
		m.mu.Lock()
		digit, pressed := m.receive(m.rbuf[:n], from)
		onDTMF := m.onDTMF
		m.mu.Unlock()
		if pressed && onDTMF != nil {
			onDTMF(digit)
		}
	}
}

// receive takes one packet and reports a new key press; the caller holds
// m.mu.
func (m *media) receive(b []byte, from netip.AddrPort) (digit byte, pressed bool) {
	if !m.fromCaller(from) {
		m.stats.Strangers++
		return 0, false
	}
	if m.srtp != nil {
		plain, err := m.srtp.decrypt(b)
		if err != nil {
			m.stats.SRTPFailed++
			return 0, false
		}
		b = plain
	}
	if err := m.pkt.Unmarshal(b); err != nil || m.pkt.Version != 2 {
		m.stats.Foreign++
		return 0, false
	}
	m.lastRecv = time.Now()
	if m.leg != nil {
		m.forward(b)
		return 0, false
	}
	switch m.pkt.PayloadType {
	case m.codec.PayloadType:
		m.rtp.Update(m.pkt.SequenceNumber, m.pkt.Timestamp, m.lastRecv)
		m.jb.write(m.pkt.SSRC, m.pkt.Timestamp, m.pkt.Payload, &m.codec)
	case m.dtmfPT:
		if m.dtmfPT != 0 {
			return m.dtmfIn.Packet(m.pkt.Payload, m.pkt.Timestamp)
		}
		m.stats.Foreign++
	default:
		m.stats.Foreign++
	}
	return 0, false
}

// fromCaller reports whether a packet from `from` is the caller's, latching
// to the first acceptable source (see media.latched); m.mu is held.
func (m *media) fromCaller(from netip.AddrPort) bool {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if m.latched {
		return from == m.remote
	}
	sdp := m.remote.Addr()
	if from == m.remote || (sdp.IsValid() && !sdp.IsUnspecified() && from.Addr() == sdp) || from.Addr() == m.signalIP {
		m.remote, m.latched = from, true
		return true
	}
	return false
}

// tick moves one frame: caller audio out of the jitter buffer into the sink,
// and the gateway's audio (silence until prompts exist) out to the caller.
func (m *media) tick(now time.Time, send bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.timeout > 0 && !m.timedOut && now.Sub(m.lastRecv) > m.timeout {
		m.timedOut = true
		m.onTimeout()
	}
	if m.leg != nil {
		return // bridged: the target speaks, the conversation is over
	}
	m.jb.read(m.caller)
	playing := m.fillPlayed()
	m.sink.WriteAudio(m.caller, m.played)
	// Every frame advances the timestamp; only a sent one the sequence, so
	// a dropped frame is a timestamp gap, not a sequence gap.
	m.out.Timestamp += FrameSize
	if !send {
		m.stats.Skipped++
		return
	}
	if m.hold || !m.remote.IsValid() || m.remote.Addr().IsUnspecified() {
		return
	}
	m.out.SequenceNumber++
	m.out.Marker = false
	m.out.PayloadType = m.codec.PayloadType
	m.out.Payload = m.out.Payload[:FrameSize]
	audioTS := m.out.Timestamp
	if ts, marker, ok := m.dtmfOut.next(m.out.Payload[:4], audioTS); ok && m.dtmfPT != 0 {
		// a key being sent replaces this frame's audio; its packets carry
		// the timestamp of the key's start
		m.out.Payload = m.out.Payload[:4]
		m.out.PayloadType, m.out.Marker, m.out.Timestamp = m.dtmfPT, marker, ts
	} else if playing {
		m.codec.Encode(m.out.Payload, m.played)
	} else {
		copy(m.out.Payload, m.silence)
	}
	n, err := m.out.MarshalTo(m.sbuf)
	m.out.Timestamp = audioTS
	if err != nil {
		return
	}
	pkt := m.sbuf[:n]
	if m.srtp != nil {
		if pkt, err = m.srtp.encrypt(m.sbuf, n); err != nil {
			return
		}
	}
	if m.sock.mux != nil {
		m.sock.mux.queue(pkt, m.remote) // sent with the shard's batch after this tick
		m.stats.Sent++
	} else if _, err := m.sock.conn.WriteToUDPAddrPort(pkt, m.remote); err == nil {
		m.stats.Sent++
	}
}

// fillPlayed takes the next frame of queued audio into m.played (silence
// where the queue runs out) and reports whether anything played.
func (m *media) fillPlayed() bool {
	n := 0
	for n < len(m.played) && len(m.queue) > 0 {
		cur := m.queue[0].samples
		k := copy(m.played[n:], cur[m.qpos:])
		n += k
		m.qpos += k
		if m.qpos == len(cur) {
			m.queue[0] = clip{}
			m.queue, m.qpos = m.queue[1:], 0
		}
	}
	clear(m.played[n:])
	return n > 0
}

// clip is one piece of audio queued to play, with the tag its player gave.
type clip struct {
	samples []int16
	tag     uint64
}

// play queues 8 kHz PCM to be played to the caller after what is queued.
func (m *media) play(samples []int16, tag uint64) {
	if len(samples) == 0 {
		return
	}
	m.mu.Lock()
	m.queue = append(m.queue, clip{samples, tag})
	m.mu.Unlock()
}

// playing returns the tag of the clip playing now.
func (m *media) playing() (tag uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.queue) == 0 {
		return 0, false
	}
	return m.queue[0].tag, true
}

// stopPlayback drops the clip playing and every queued one; it returns how
// many were dropped. The next frame the caller hears is silence.
func (m *media) stopPlayback() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.queue)
	clear(m.queue)
	m.queue, m.qpos = m.queue[:0], 0
	return n
}

// sendDTMF queues keys to be sent as RFC 4733 events; it reports false
// when the caller did not offer telephone-event.
func (m *media) sendDTMF(events []uint8) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dtmfPT == 0 {
		return false
	}
	m.dtmfOut.queue = append(m.dtmfOut.queue, events...)
	return true
}

// update applies a re-INVITE's offer: a new address, codec, or hold.
func (m *media) update(o *Offer, hold bool) {
	// The shared socket's table takes m.mu under its own lock: it learns
	// of a new address once m.mu is released.
	if moved := m.updateLocked(o, hold); moved && m.sock.mux != nil {
		m.sock.mux.relatch(m)
	}
}

// updateLocked applies the offer under m.mu; it reports a new address.
func (m *media) updateLocked(o *Offer, hold bool) (moved bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o.Remote.IsValid() && !o.Remote.Addr().IsUnspecified() && (o.Remote != m.remote || o.SSRC != m.remoteSSRC) {
		m.remote, m.remoteSSRC, m.latched, moved = o.Remote, o.SSRC, false, true // a new address: latch again
	}
	if o.Codec.PayloadType != m.codec.PayloadType || o.Codec.Name != m.codec.Name {
		m.codec = o.Codec
		clear(m.played)
		m.codec.Encode(m.silence, m.played)
	}
	if o.HasDTMF {
		m.dtmfPT = o.DTMF
	}
	m.hold = hold
	return moved
}

// stop ends run and waits for it, so the sink gets no frame after stop
// returns. It returns the call's RTP counts.
func (m *media) stop() MediaStats {
	m.stopOnce.Do(func() {
		if m.shard != nil {
			m.shard.remove(m)
		}
		if m.sock.mux != nil {
			m.sock.mux.remove(m)
			close(m.done) // no goroutine of its own to close it
		}
		m.sock.close() // a call's own socket: ends run
		m.mu.Lock()
		leg := m.leg
		m.mu.Unlock()
		if leg != nil {
			leg.conn.Close()
			<-leg.done
		}
	})
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Late = m.jb.late
	m.stats.Received, m.stats.Lost, m.stats.Jitter = m.rtp.Received, m.rtp.Lost(), m.rtp.Jitter()
	return m.stats
}
