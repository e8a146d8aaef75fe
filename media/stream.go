package media

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtp"
)

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

// Stats counts a call's RTP. Received, Lost and Jitter describe the
// caller's audio stream; Late counts packets that arrived after their time
// was played out; Foreign counts packets that were not the call's audio or
// events.
type Stats struct {
	Received, Lost, Sent, Late, Foreign uint64
	Strangers                           uint64 // packets from a source other than the caller's, dropped
	Skipped                             uint64 // frames not sent because the clock ran behind
	SRTPFailed                          uint64 // SRTP packets that failed authentication or replay checks, dropped
	Jitter                              time.Duration
}

// Stream runs one call's RTP: its goroutine (or, on a shared port, the
// port's reader) receives packets into the jitter buffer; every 20 ms the
// clock reads a frame out, hands it to the sink and sends a frame to the
// caller. mu (this call's only) orders the two.
type Stream struct {
	mu       sync.Mutex
	engine   *Engine
	shard    *clockShard
	shardIdx int

	// sock is the call's RTP socket: its own, or with --rtp-mux a shared
	// one, whose reader hands this call its packets and where ticks queue
	// ours.
	sock   Socket
	remote netip.AddrPort // where the caller's RTP comes from and ours goes
	// sdpRemote is the address the caller's SDP gave (the zero AddrPort
	// when it gave none a packet can come from): its packets are always the
	// caller's, and once one came no other source is taken.
	sdpRemote netip.AddrPort
	// latched: remote is the source the caller's RTP was seen from; every
	// other source is dropped. Until then the first packet from the SDP's
	// address, or from the SDP's or the signalling's IP (a caller behind
	// NAT), latches (symmetric RTP); a packet from the SDP's address takes
	// the call back from a NAT latch, never the other way.
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
	stats  Stats
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
	srtp *SRTP

	timeout   time.Duration // hang up after this long without RTP; 0 = never
	lastRecv  time.Time
	onTimeout func() // called once, on the media goroutine
	timedOut  bool

	started  bool // Start ran: the stream's own receiver closes done
	stopOnce sync.Once
	done     chan struct{}
}

// Params is what signalling negotiated for a stream: where the far end's
// RTP comes from and ours goes, the codec, the telephone-event type, and
// whether we send at all. Signalling builds it from the SDP offer and
// answer; a re-offer gives a new one (Stream.Update).
type Params struct {
	Remote netip.AddrPort
	// RemoteSSRC is the SSRC the far end declared (a=ssrc), 0 if none: on
	// a shared port it tells apart calls from one address.
	RemoteSSRC uint32
	Codec      Codec
	// DTMF is the telephone-event payload type, 0 if none was offered. In
	// an Update, 0 keeps the one the stream has.
	DTMF uint8
	// Hold sends nothing (the far end put the call on hold, or a recorder
	// that only receives).
	Hold bool
}

// StreamConfig is what a Stream is built with.
type StreamConfig struct {
	Socket Socket // from Engine.Socket or Engine.Listen
	Params Params
	SSRC   uint32 // of what the gateway sends
	Log    *slog.Logger
	// SignalIP is where the call's signalling came from: a caller behind
	// NAT sends its RTP from this IP rather than its SDP's.
	SignalIP netip.Addr
	// Timeout hangs up after this long without RTP (0 = never): OnTimeout
	// is called once, on the clock's goroutine.
	Timeout   time.Duration
	OnTimeout func()
	// OnDTMF is told of each key press, on the receiving goroutine; it
	// must not block.
	OnDTMF func(digit byte)
	// SRTP, if set, encrypts the stream.
	SRTP *SRTP
}

// NewStream builds a call's stream on the engine's clock; it moves no
// audio until Start. Play may queue audio before.
func (e *Engine) NewStream(cfg StreamConfig) *Stream {
	p, ssrc := cfg.Params, cfg.SSRC
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	m := &Stream{
		engine: e,
		sock:   cfg.Socket, remote: p.Remote, sdpRemote: sdpSource(p.Remote), remoteSSRC: p.RemoteSSRC, codec: p.Codec, dtmfPT: p.DTMF, hold: p.Hold,
		log: log, signalIP: cfg.SignalIP.Unmap(),
		timeout: cfg.Timeout, onTimeout: cfg.OnTimeout, onDTMF: cfg.OnDTMF, srtp: cfg.SRTP,
		jb:     newJitterBuffer(uint32(playoutDelay.Milliseconds() * 8)),
		rbuf:   make([]byte, 1500),
		sbuf:   make([]byte, 12+FrameSize+srtpOverhead),
		caller: make([]int16, FrameSize),
		played: make([]int16, FrameSize),
		done:   make(chan struct{}),

		shardIdx: -1,
	}
	m.out.Header = rtp.Header{Version: 2, PayloadType: p.Codec.PayloadType, SSRC: ssrc, SequenceNumber: uint16(ssrc >> 7), Timestamp: ssrc * 3}
	m.out.Payload = make([]byte, FrameSize)
	m.silence = make([]byte, FrameSize)
	p.Codec.Encode(m.silence, m.played)
	return m
}

// Start joins the clock, handing each frame to sink, and receives until
// Stop.
func (m *Stream) Start(sink AudioSink) {
	m.sink = sink
	m.lastRecv = time.Now()
	m.started = true
	c := m.engine.clock
	if m.sock.mux != nil { // the shared socket's reader delivers; no goroutine of its own
		c.add(m, m.sock.shard)
		m.sock.mux.add(m)
		return
	}
	c.add(m, -1)
	go m.run()
}

func (m *Stream) run() {
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
func (m *Stream) receive(b []byte, from netip.AddrPort) (digit byte, pressed bool) {
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
func (m *Stream) fromCaller(from netip.AddrPort) bool {
	from = unmap(from)
	if from == m.sdpRemote { // the SDP's own address: always the caller's
		m.remote, m.latched = from, true
		return true
	}
	if m.latched {
		return from == m.remote && m.remote != m.sdpRemote
	}
	if from.Addr() == m.sdpRemote.Addr() || from.Addr() == m.signalIP {
		m.remote, m.latched = from, true
		return true
	}
	return false
}

// sdpSource is an SDP's address as a packet source: the zero AddrPort when
// it names none (no address, or 0.0.0.0 on hold), which no packet matches.
func sdpSource(a netip.AddrPort) netip.AddrPort {
	a = unmap(a)
	if !a.Addr().IsValid() || a.Addr().IsUnspecified() {
		return netip.AddrPort{}
	}
	return a
}

// unmap is the address with an IPv4-mapped IPv6 IP as IPv4.
func unmap(a netip.AddrPort) netip.AddrPort { return netip.AddrPortFrom(a.Addr().Unmap(), a.Port()) }

// tick moves one frame: caller audio out of the jitter buffer into the sink,
// and the gateway's audio (silence until prompts exist) out to the caller.
func (m *Stream) tick(now time.Time, send bool) {
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
func (m *Stream) fillPlayed() bool {
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

// Play queues 8 kHz 16-bit PCM to be played to the caller (and handed to
// the sink as played) after what is queued. The tag is the caller's own,
// reported by Playing while the clip plays; the slice must not change
// afterwards.
func (m *Stream) Play(samples []int16, tag uint64) {
	if len(samples) == 0 {
		return
	}
	m.mu.Lock()
	m.queue = append(m.queue, clip{samples, tag})
	m.mu.Unlock()
}

// Playing returns the tag of the clip playing now, if one is.
func (m *Stream) Playing() (tag uint64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.queue) == 0 {
		return 0, false
	}
	return m.queue[0].tag, true
}

// StopPlayback drops the clip playing and every queued one (barge-in); it
// returns how many were dropped. The next frame the caller hears is
// silence.
func (m *Stream) StopPlayback() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.queue)
	clear(m.queue)
	m.queue, m.qpos = m.queue[:0], 0
	return n
}

// ErrNoTelephoneEvent is returned by SendDTMF when the far end's SDP did
// not offer RFC 4733 telephone-event.
var ErrNoTelephoneEvent = errors.New("the caller did not offer telephone-event")

// SendDTMF queues keys (0-9, *, #, A-D) to be sent to the caller as
// RFC 4733 events, after any queued ones.
func (m *Stream) SendDTMF(digits string) error {
	events := make([]uint8, 0, len(digits))
	for i := 0; i < len(digits); i++ {
		e, ok := DTMFEvent(digits[i])
		if !ok {
			return fmt.Errorf("not a DTMF key: %q", digits[i])
		}
		events = append(events, e)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.dtmfPT == 0 {
		return ErrNoTelephoneEvent
	}
	m.dtmfOut.queue = append(m.dtmfOut.queue, events...)
	return nil
}

// Update applies a re-offer: a new address or SSRC (latched again), codec,
// telephone-event type, or hold.
func (m *Stream) Update(p Params) {
	// The shared socket's table takes m.mu under its own lock: it learns
	// of a new address once m.mu is released.
	if moved := m.updateLocked(p); moved && m.sock.mux != nil {
		m.sock.mux.relatch(m)
	}
}

// updateLocked applies p under m.mu; it reports a new address.
func (m *Stream) updateLocked(p Params) (moved bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.Remote.IsValid() && !p.Remote.Addr().IsUnspecified() && (p.Remote != m.remote || p.RemoteSSRC != m.remoteSSRC) {
		m.remote, m.remoteSSRC, m.latched, moved = p.Remote, p.RemoteSSRC, false, true // a new address: latch again
		m.sdpRemote = sdpSource(p.Remote)
	}
	if p.Codec.PayloadType != m.codec.PayloadType || p.Codec.Name != m.codec.Name {
		m.codec = p.Codec
		clear(m.played)
		m.codec.Encode(m.silence, m.played)
	}
	if p.DTMF != 0 {
		m.dtmfPT = p.DTMF
	}
	m.hold = p.Hold
	return moved
}

// Format is the codec and telephone-event type (0: none) the stream
// speaks now: what a bridged leg is offered first.
func (m *Stream) Format() (Codec, uint8) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.codec, m.dtmfPT
}

// Stop ends the stream and waits for its receiver, so the sink gets no
// frame after Stop returns. It returns the stream's RTP counts; a second
// Stop returns them again.
func (m *Stream) Stop() Stats {
	m.stopOnce.Do(func() {
		if m.shard != nil {
			m.shard.remove(m)
		}
		if m.sock.mux != nil {
			m.sock.mux.remove(m)
		}
		m.sock.Close() // a call's own socket: ends run
		if m.sock.mux != nil || !m.started {
			close(m.done) // no goroutine of its own to close it
		}
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
