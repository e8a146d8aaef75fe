package media

import (
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// These tests run streams on a real engine (its clock, real UDP sockets on
// loopback) with no SIP dialog: a test caller sends and reads RTP, and a
// fake sink keeps what the clock hands it.

// sink keeps the frames a stream hands it and says when one with sound
// arrives. It never blocks: the clock calls it with the stream's lock.
type sink struct {
	mu             sync.Mutex
	caller, played []int16
	heard          chan struct{}
}

func newSink() *sink { return &sink{heard: make(chan struct{}, 1)} }

func (s *sink) WriteAudio(caller, played []int16) {
	s.mu.Lock()
	s.caller = append(s.caller, caller...)
	s.played = append(s.played, played...)
	s.mu.Unlock()
	if slices.ContainsFunc(caller, func(v int16) bool { return v != 0 }) {
		select {
		case s.heard <- struct{}{}:
		default:
		}
	}
}

// frames returns copies of what the sink got.
func (s *sink) frames() (caller, played []int16) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.caller), slices.Clone(s.played)
}

// waitHeard waits for a frame with sound from the caller.
func (s *sink) waitHeard(t *testing.T) {
	t.Helper()
	select {
	case <-s.heard:
	case <-time.After(5 * time.Second):
		t.Fatal("the sink got no sound from the caller")
	}
}

// peer is the far end of a stream: a UDP socket on loopback.
type peer struct {
	conn *net.UDPConn
	to   netip.AddrPort // the stream's port
	seq  uint16
	ts   uint32
	ssrc uint32
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &peer{conn: c, ssrc: 7}
}

func (p *peer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// send sends one packet of payload type pt.
func (p *peer) send(t *testing.T, pt uint8, payload []byte, marker bool) {
	t.Helper()
	p.seq++
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc, Marker: marker},
		Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.conn.WriteToUDPAddrPort(b, p.to); err != nil {
		t.Fatal(err)
	}
}

// sendTone sends n 20 ms packets of a constant sample, encoded with c.
func (p *peer) sendTone(t *testing.T, c Codec, v int16, n int) {
	t.Helper()
	pcm := make([]int16, FrameSize)
	for i := range pcm {
		pcm[i] = v
	}
	payload := make([]byte, FrameSize)
	c.Encode(payload, pcm)
	for range n {
		p.send(t, c.PayloadType, payload, false)
		p.ts += FrameSize
	}
}

// read returns the next packet the stream sent.
func (p *peer) read(t *testing.T) *rtp.Packet {
	t.Helper()
	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := p.conn.Read(buf)
	if err != nil {
		t.Fatalf("no RTP from the stream: %v", err)
	}
	var pkt rtp.Packet
	if err := pkt.Unmarshal(buf[:n]); err != nil {
		t.Fatalf("the stream sent what is not RTP: %v", err)
	}
	return &pkt
}

// readUntil reads packets until ok accepts one.
func (p *peer) readUntil(t *testing.T, what string, ok func(*rtp.Packet) bool) *rtp.Packet {
	t.Helper()
	for range 500 {
		if pkt := p.read(t); ok(pkt) {
			return pkt
		}
	}
	t.Fatalf("the stream never sent %s", what)
	return nil
}

// waitReceived waits until the stream took n audio packets and returns
// its counts then.
func waitReceived(t *testing.T, s *Stream, n uint64) Stats {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		st, got := s.stats, s.rtp.Received
		s.mu.Unlock()
		if got == n {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d audio packets taken, want %d", got, n)
		}
	}
}

// newTestEngine is an engine on loopback; its shared ports (mux) are the
// first of a range that other tests' sockets may hold, so a few ranges
// are tried.
func newTestEngine(t *testing.T, mux bool) *Engine {
	t.Helper()
	var err error
	for try := range 5 {
		base := 40000 + 1000*try + 2*mathrand.IntN(200)
		var e *Engine
		if e, err = NewEngine(EngineConfig{IP: netip.MustParseAddr("127.0.0.1"), Ports: PortRange{Min: base, Max: base + 999}, Mux: mux}); err == nil {
			t.Cleanup(e.Close)
			return e
		}
	}
	t.Fatal(err)
	return nil
}

// startStream starts a stream of p's address on its own or a shared port.
func startStream(t *testing.T, e *Engine, p *peer, cfg StreamConfig) (*Stream, *sink) {
	t.Helper()
	sock, err := e.Socket()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Socket = sock
	if !cfg.Params.Remote.IsValid() {
		cfg.Params.Remote = p.addr()
	}
	if cfg.Params.Codec.Name == "" {
		cfg.Params.Codec = PCMU
	}
	if cfg.SSRC == 0 {
		cfg.SSRC = 1234
	}
	p.to = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sock.Port()))
	s := e.NewStream(cfg)
	k := newSink()
	s.Start(k)
	t.Cleanup(func() { s.Stop() })
	return s, k
}

// The caller's audio reaches the sink decoded; what is played reaches the
// caller encoded, and the sink as played; barge-in drops the rest.
func TestStreamMovesAudioBothWays(t *testing.T) {
	e := newTestEngine(t, false)
	p := newPeer(t)
	s, k := startStream(t, e, p, StreamConfig{})
	p.sendTone(t, PCMU, 1000, 10)
	k.waitHeard(t)
	caller, _ := k.frames()
	want := PCMU.decode[PCMU.encode(1000)]
	if !slices.Contains(caller, want) {
		t.Fatalf("the sink never heard the caller's sample %d", want)
	}

	clip := make([]int16, 3*FrameSize)
	for i := range clip {
		clip[i] = -3000
	}
	s.Play(clip, 42)
	if tag, ok := s.Playing(); !ok || tag != 42 {
		t.Fatalf("Playing = %d %v, want 42 true", tag, ok)
	}
	enc := PCMU.encode(-3000)
	pkt := p.readUntil(t, "the clip", func(pkt *rtp.Packet) bool { return len(pkt.Payload) > 0 && pkt.Payload[0] == enc })
	if pkt.PayloadType != PCMU.PayloadType || pkt.SSRC != 1234 || len(pkt.Payload) != FrameSize {
		t.Fatalf("packet PT %d SSRC %d %d bytes, want PCMU from 1234, %d bytes", pkt.PayloadType, pkt.SSRC, len(pkt.Payload), FrameSize)
	}
	_, played := k.frames()
	if !slices.Contains(played, -3000) {
		t.Fatal("the sink was not handed what was played")
	}

	s.Play(clip, 1)
	s.Play(clip, 2)
	if n := s.StopPlayback(); n < 2 {
		t.Fatalf("StopPlayback dropped %d clips, want at least 2", n)
	}
	if _, ok := s.Playing(); ok {
		t.Fatal("a clip plays after StopPlayback")
	}
	st := s.Stop()
	if st.Received != 10 || st.Lost != 0 || st.Sent == 0 || st.Foreign != 0 {
		t.Fatalf("stats %+v: want 10 received, none lost, some sent, none foreign", st)
	}
	if again := s.Stop(); again != st {
		t.Fatalf("a second Stop gave %+v, want %+v", again, st)
	}
}

// Keys come in as RFC 4733 events (one press per key, however many
// packets) and go out as events in place of audio; a stream without
// telephone-event refuses to send them.
func TestStreamKeysBothWays(t *testing.T) {
	e := newTestEngine(t, false)
	p := newPeer(t)
	keys := make(chan byte, 8)
	s, _ := startStream(t, e, p, StreamConfig{Params: Params{DTMF: 101}, OnDTMF: func(d byte) { keys <- d }})
	for i := range 5 { // '7' held 100 ms, then its end three times
		p.send(t, 101, []byte{7, 10, 0, byte(160 * (i + 1))}, i == 0)
	}
	for range 3 {
		p.send(t, 101, []byte{7, 0x80 | 10, 3, 32}, false)
	}
	select {
	case d := <-keys:
		if d != '7' {
			t.Fatalf("key %q, want '7'", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no key press reported")
	}
	select {
	case d := <-keys:
		t.Fatalf("one held key reported twice (then %q)", d)
	case <-time.After(100 * time.Millisecond):
	}

	if err := s.SendDTMF("x"); err == nil {
		t.Fatal("SendDTMF took a key that does not exist")
	}
	if err := s.SendDTMF("#1"); err != nil {
		t.Fatal(err)
	}
	var events []uint8
	for len(events) < 2 {
		pkt := p.readUntil(t, "an end event", func(pkt *rtp.Packet) bool { return pkt.PayloadType == 101 && pkt.Payload[1]&0x80 != 0 })
		if len(events) == 0 || events[len(events)-1] != pkt.Payload[0] {
			events = append(events, pkt.Payload[0])
		}
	}
	if !slices.Equal(events, []uint8{11, 1}) {
		t.Fatalf("events sent %v, want [11 1] (# then 1)", events)
	}

	plain, _ := startStream(t, e, newPeer(t), StreamConfig{})
	if err := plain.SendDTMF("1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Fatalf("SendDTMF without telephone-event: %v, want ErrNoTelephoneEvent", err)
	}
}

// A re-offer on hold stops what is sent; one with another codec sends in
// it; packets from a stranger are dropped and counted.
func TestStreamUpdateAndStrangers(t *testing.T) {
	e := newTestEngine(t, false)
	p := newPeer(t)
	s, k := startStream(t, e, p, StreamConfig{})
	p.sendTone(t, PCMU, 500, 3) // latches the caller's address
	k.waitHeard(t)

	s.Update(Params{Remote: p.addr(), Codec: PCMA})
	if c, dtmf := s.Format(); c.Name != "PCMA" || dtmf != 0 {
		t.Fatalf("Format after the re-offer = %s %d, want PCMA 0", c.Name, dtmf)
	}
	p.readUntil(t, "PCMA", func(pkt *rtp.Packet) bool { return pkt.PayloadType == PCMA.PayloadType })

	s.Update(Params{Remote: p.addr(), Codec: PCMA, Hold: true})
	p.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	drain := make([]byte, 1500)
	for {
		if _, err := p.conn.Read(drain); err != nil {
			break // nothing more: held
		}
	}
	p.conn.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	if _, err := p.conn.Read(drain); err == nil {
		t.Fatal("the stream sends while on hold")
	}

	stranger := newPeer(t)
	stranger.to = p.to
	stranger.sendTone(t, PCMU, 500, 4)
	p.sendTone(t, PCMA, 500, 1) // after the stranger's: once it is counted, so are they
	if n := waitReceived(t, s, 4).Strangers; n != 4 {
		t.Fatalf("%d strangers counted, want 4", n)
	}
}

// A caller silent for the timeout is reported once, on the clock.
func TestStreamTimeout(t *testing.T) {
	e := newTestEngine(t, false)
	timedOut := make(chan struct{}, 2)
	startStream(t, e, newPeer(t), StreamConfig{Timeout: 100 * time.Millisecond, OnTimeout: func() { timedOut <- struct{}{} }})
	select {
	case <-timedOut:
	case <-time.After(5 * time.Second):
		t.Fatal("no timeout reported")
	}
	select {
	case <-timedOut:
		t.Fatal("the timeout was reported twice")
	case <-time.After(200 * time.Millisecond):
	}
}

// An SRTP stream decrypts the caller's packets, drops forged ones, and
// encrypts its own; a re-key takes the caller's new key.
func TestStreamSRTP(t *testing.T) {
	const suite = "AES_CM_128_HMAC_SHA1_80"
	n, ok := SRTPKeyLen(suite)
	if !ok || n != 30 {
		t.Fatalf("SRTPKeyLen = %d %v, want 30 true", n, ok)
	}
	if _, ok := SRTPKeyLen("NULL"); ok {
		t.Fatal("an unknown suite has a key length")
	}
	callerKey, ourKey := make([]byte, n), make([]byte, n)
	rand.Read(callerKey)
	rand.Read(ourKey)
	keys, err := NewSRTP(suite, callerKey, ourKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSRTP(suite, callerKey[:10], ourKey); err == nil {
		t.Fatal("a short key was taken")
	}
	e := newTestEngine(t, false)
	p := newPeer(t)
	s, k := startStream(t, e, p, StreamConfig{SRTP: keys})
	enc, _ := srtpContext(suite, callerKey)
	dec, _ := srtpContext(suite, ourKey)
	send := func(ctx *srtp.Context, v int16, n int) {
		pcm := make([]int16, FrameSize)
		for i := range pcm {
			pcm[i] = v
		}
		payload := make([]byte, FrameSize)
		PCMU.Encode(payload, pcm)
		for range n {
			p.seq++
			b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: 9}, Payload: payload}).Marshal()
			b, err := ctx.EncryptRTP(nil, b, nil)
			if err != nil {
				t.Fatal(err)
			}
			p.conn.WriteToUDPAddrPort(b, p.to)
			p.ts += FrameSize
		}
	}
	send(enc, 2000, 5)
	k.waitHeard(t)
	forger, _ := srtpContext(suite, ourKey) // the wrong key
	send(forger, 2000, 2)

	buf := make([]byte, 1500)
	p.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	m, err := p.conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := dec.DecryptRTP(nil, buf[:m], nil)
	if err != nil {
		t.Fatalf("what the stream sent does not decrypt with its key: %v", err)
	}
	var pkt rtp.Packet
	if pkt.Unmarshal(plain) != nil || pkt.PayloadType != 0 || len(pkt.Payload) != FrameSize {
		t.Fatal("the decrypted packet is not a PCMU frame")
	}

	newKey := make([]byte, n)
	rand.Read(newKey)
	if err := s.Rekey(suite, newKey); err != nil {
		t.Fatal(err)
	}
	enc2, _ := srtpContext(suite, newKey)
	send(enc2, 2000, 3)
	if failed := waitReceived(t, s, 8).SRTPFailed; failed != 2 { // 5, then 3 under the new key
		t.Fatalf("%d packets failed authentication, want the 2 forged", failed)
	}
}

// On shared ports, calls from one address are told apart by the SSRC
// their offers declared, and a call whose SDP names another address
// latches to the one its signalling came from (NAT).
func TestSharedPortsTellCallsApart(t *testing.T) {
	e := newTestEngine(t, true)
	trunk := newPeer(t)
	a, b := *trunk, *trunk // one socket, two streams
	a.ssrc, b.ssrc = 100, 200
	_, ka := startStream(t, e, &a, StreamConfig{Params: Params{RemoteSSRC: 100}})
	_, kb := startStream(t, e, &b, StreamConfig{Params: Params{RemoteSSRC: 200}})
	a.sendTone(t, PCMU, 1000, 5)
	b.sendTone(t, PCMU, -1000, 5)
	ka.waitHeard(t)
	kb.waitHeard(t)
	ca, _ := ka.frames()
	cb, _ := kb.frames()
	if slices.Contains(ca, PCMU.decode[PCMU.encode(-1000)]) || slices.Contains(cb, PCMU.decode[PCMU.encode(1000)]) {
		t.Fatal("a call heard the other call's audio")
	}

	natted := newPeer(t)
	sdp := netip.MustParseAddrPort("192.0.2.1:4000") // what the phone behind NAT wrote
	_, kn := startStream(t, e, natted, StreamConfig{Params: Params{Remote: sdp}, SignalIP: netip.MustParseAddr("127.0.0.1")})
	natted.sendTone(t, PCMU, 3000, 5)
	kn.waitHeard(t)
	p := natted.readUntil(t, "audio back to the NAT's address", func(pkt *rtp.Packet) bool { return pkt.PayloadType == 0 })
	if p.SSRC != 1234 {
		t.Fatalf("SSRC %d, want 1234", p.SSRC)
	}
	if e.Strangers() != 0 {
		t.Fatalf("%d strangers on the shared ports, want 0", e.Strangers())
	}
}

// A bridged stream relays the caller to the leg in the leg's law and the
// leg to the caller in the caller's, keys mapped to each side's type.
func TestBridgeRelaysBothWays(t *testing.T) {
	e := newTestEngine(t, false)
	caller := newPeer(t)
	s, k := startStream(t, e, caller, StreamConfig{Params: Params{DTMF: 101}})
	caller.sendTone(t, PCMU, 800, 1) // latch, before the bridge
	k.waitHeard(t)
	target := newPeer(t)
	target.ssrc = 77
	sock, err := e.Listen()
	if err != nil {
		t.Fatal(err)
	}
	target.to = netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(sock.Port()))
	s.Bridge(sock, Params{Remote: target.addr(), Codec: PCMA, DTMF: 96})

	caller.sendTone(t, PCMU, 800, 1)
	got := target.read(t)
	if got.PayloadType != PCMA.PayloadType || got.Payload[0] != PCMA.encode(PCMU.decode[PCMU.encode(800)]) {
		t.Fatalf("the target got PT %d byte %#x, want PCMA of the caller's sample", got.PayloadType, got.Payload[0])
	}
	caller.send(t, 101, []byte{5, 0x80, 0, 160}, true)
	if got := target.read(t); got.PayloadType != 96 || got.Payload[0] != 5 {
		t.Fatalf("the target got PT %d event %d, want 96 and 5", got.PayloadType, got.Payload[0])
	}

	target.sendTone(t, PCMA, -800, 1)
	back := caller.readUntil(t, "the target's audio", func(pkt *rtp.Packet) bool { return pkt.SSRC == target.ssrc })
	if back.PayloadType != PCMU.PayloadType || back.Payload[0] != PCMU.encode(PCMA.decode[PCMA.encode(-800)]) {
		t.Fatalf("the caller got PT %d byte %#x, want PCMU of the target's sample", back.PayloadType, back.Payload[0])
	}
	s.Stop() // closes the leg's socket and waits for its relay
}

// JoinPair hands one sink the first stream's audio as heard and the
// second's as played.
func TestJoinPair(t *testing.T) {
	k := newSink()
	first, second := JoinPair(k)
	left, right := make([]int16, FrameSize), make([]int16, FrameSize)
	for i := range left {
		left[i], right[i] = 1, 2
	}
	second.WriteAudio(right, nil)
	first.WriteAudio(left, nil)
	first.WriteAudio(left, nil) // the second fell behind: silence on its side
	for range 10 {              // the first fell behind: the oldest are dropped
		second.WriteAudio(right, nil)
	}
	first.WriteAudio(left, nil)
	caller, played := k.frames()
	if caller[0] != 1 || played[0] != 2 || played[FrameSize] != 0 || played[2*FrameSize] != 2 {
		t.Fatalf("left %d, right %d, %d, %d; want 1, 2, 0, 2", caller[0], played[0], played[FrameSize], played[2*FrameSize])
	}
}

func TestPortRange(t *testing.T) {
	for _, bad := range []string{"", "30000", "3-2", "0-10", "1-70000", "a-b"} {
		if _, err := ParsePortRange(bad); err == nil {
			t.Errorf("ParsePortRange(%q) took it", bad)
		}
	}
	free, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	even := free.LocalAddr().(*net.UDPAddr).Port &^ 1 // a range around a port the system just had free
	free.Close()
	r, err := ParsePortRange(fmt.Sprintf(" %d - %d ", even-1, even+1))
	if err != nil || r.Min != even-1 || r.Max != even+1 {
		t.Fatalf("ParsePortRange = %+v %v", r, err)
	}
	c, err := r.Listen(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if port := c.LocalAddr().(*net.UDPAddr).Port; port != even {
		t.Fatalf("port %d, want the range's one even port %d", port, even)
	}
	if _, err := r.Listen(netip.MustParseAddr("127.0.0.1")); err == nil {
		t.Fatal("a second socket on a range of one port")
	}
	c.Close()

	e := newTestEngine(t, false)
	pair, err := e.ListenPair()
	if err != nil {
		t.Fatal(err)
	}
	if pair[1].Port() != pair[0].Port()+2 || pair[0].Port()%2 != 0 {
		t.Fatalf("ports %d and %d, want an even port and the one two above", pair[0].Port(), pair[1].Port())
	}
	pair[0].Close()
	pair[1].Close()
	if _, err := NewEngine(EngineConfig{IP: netip.MustParseAddr("::1"), Ports: PortRange{Min: 41000, Max: 41100}, Mux: true}); err == nil {
		t.Fatal("shared ports on IPv6 were taken")
	}
}

// A packet from the caller's IP on another port (a NAT's, or another
// program's on the caller's host) latches only until the SDP's own
// address sends: from then on the call is the SDP's, and the other
// source's packets are dropped; audio goes back to the SDP's address.
func TestSDPAddressTakesTheCallBackFromANATLatch(t *testing.T) {
	e := newTestEngine(t, false)
	real := newPeer(t)
	s, k := startStream(t, e, real, StreamConfig{})
	squatter := newPeer(t) // 127.0.0.1 too, another port
	squatter.to = real.to
	squatter.ssrc = 99
	squatter.sendTone(t, PCMU, 3000, 3)
	k.waitHeard(t)
	real.sendTone(t, PCMU, -3000, 3)
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		remote := s.remote
		s.mu.Unlock()
		if remote == real.addr() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the call stayed with %v, not the SDP's %v", remote, real.addr())
		}
		time.Sleep(5 * time.Millisecond)
	}
	squatter.sendTone(t, PCMU, 3000, 5)
	real.sendTone(t, PCMU, -3000, 1)                                  // after the squatter's: once taken, theirs were judged
	if strangers := waitReceived(t, s, 7).Strangers; strangers != 5 { // 3 before the SDP's address spoke, 3 + 1 from it
		t.Fatalf("%d of the other source's packets dropped, want 5", strangers)
	}
	if pkt := real.read(t); pkt.SSRC != 1234 {
		t.Fatalf("the SDP's address gets SSRC %d, want the stream's", pkt.SSRC)
	}
}
