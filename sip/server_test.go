package sip_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/media"
	"github.com/botline/botline/sip"
	"github.com/botline/botline/sip/siptest"
	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
)

// handler records what the server tells it; its sink keeps caller audio.
type handler struct {
	mu       sync.Mutex
	calls    []*sip.Call
	audio    []int16
	answered chan *sip.Call
	ended    chan sip.EndReason
	keys     chan byte
}

func newHandler() *handler {
	return &handler{answered: make(chan *sip.Call, 8), ended: make(chan sip.EndReason, 8), keys: make(chan byte, 32)}
}

func (h *handler) CallAnswered(c *sip.Call) media.AudioSink {
	h.mu.Lock()
	h.calls = append(h.calls, c)
	h.mu.Unlock()
	h.answered <- c
	return h
}

func (h *handler) CallEnded(c *sip.Call, reason sip.EndReason) { h.ended <- reason }

func (h *handler) CallDTMF(c *sip.Call, d byte) { h.keys <- d }

func (h *handler) WriteAudio(caller, played []int16) {
	h.mu.Lock()
	h.audio = append(h.audio, caller...)
	h.mu.Unlock()
}

// freePort returns a port free for both UDP and TCP on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	port, err := siptest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// newEngine is media on 127.0.0.1 with RTP ports min-max, closed when the
// test ends (after the servers started later).
func newEngine(t testing.TB, min, max int) *media.Engine {
	t.Helper()
	e, err := media.NewEngine(media.EngineConfig{IP: netip.MustParseAddr("127.0.0.1"), Ports: media.PortRange{Min: min, Max: max}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

func startServer(t testing.TB, ring time.Duration, opts ...func(*sip.Config)) (string, *handler) {
	t.Helper()
	addr, h, _ := startServerWith(t, ring, opts...)
	return addr, h
}

// startServerWith is startServer, and the server.
func startServerWith(t testing.TB, ring time.Duration, opts ...func(*sip.Config)) (string, *handler, *sip.Server) {
	t.Helper()
	h := newHandler()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	base := 20000 + freePort(t)%50*200 // below the ephemeral range (32768+)
	cfg := sip.Config{
		Listen: addr, Media: newEngine(t, base, base+200), RingTime: ring, Handler: h,
		Logger: slog.New(slog.DiscardHandler), Resolver: noDNS,
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := sip.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.ListenAndServe(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	if cfg.AllowSilent {
		waitTCP(t, addr)
	} else {
		waitSIP(t, addr)
	}
	return addr, h, srv
}

// noDNS fails every lookup at once: the tests' messages name hosts (Via,
// Contact) that must not be looked up outside the machine.
var noDNS = &net.Resolver{PreferGo: true, Dial: func(context.Context, string, string) (net.Conn, error) {
	return nil, errors.New("no DNS in tests")
}}

// waitTCP waits until the server accepts SIP over TCP (for a server that
// answers nothing over UDP).
func waitTCP(t testing.TB, addr string) {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("SIP server at %s never listened on TCP", addr)
}

// waitSIP waits until the server answers OPTIONS (200, or 403 from a
// source it does not serve).
func waitSIP(t testing.TB, addr string) {
	t.Helper()
	for range 100 {
		if res := rawRequest(t, addr, "OPTIONS", "", 200*time.Millisecond); strings.HasPrefix(res, "SIP/2.0 200") || strings.HasPrefix(res, "SIP/2.0 403") {
			return
		}
		time.Sleep(20 * time.Millisecond) // not listening yet (port unreachable comes back at once)
	}
	t.Fatalf("SIP server at %s never answered OPTIONS", addr)
}

// rawRequest sends one hand-written request over UDP and returns the first
// final response line ("" on timeout).
func rawRequest(t testing.TB, addr, method, extra string, wait time.Duration) string {
	t.Helper()
	line, _, _ := strings.Cut(rawResponse(t, addr, method, extra, wait), "\r\n")
	return line
}

// rawResponse sends one hand-written request over UDP and returns the
// first final response, whole ("" on timeout).
func rawResponse(t testing.TB, addr, method, extra string, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := fmt.Sprintf("%s sip:svc@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%d\r\nFrom: <sip:t@%s>;tag=1\r\nTo: <sip:svc@%s>\r\nCall-ID: raw-%d\r\n%sMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		method, addr, local, time.Now().UnixNano(), local, addr, time.Now().UnixNano(), extra)
	if extra == "" {
		msg = strings.Replace(msg, "Max-Forwards", "CSeq: 1 "+method+"\r\nMax-Forwards", 1)
	}
	c.Write([]byte(msg))
	return readFinal(c, wait)
}

// readFinal returns the first final response read from c within wait,
// whole ("" if none came).
func readFinal(c net.Conn, wait time.Duration) string {
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return ""
		}
		if res := string(buf[:n]); !strings.HasPrefix(res, "SIP/2.0 1") {
			return res
		}
	}
}

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func newPhone(t *testing.T) *siptest.Phone {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p, err := siptest.NewPhone(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCallAudioReachesSink places a real call, streams a tone and hangs up:
// the sink gets the tone, the caller gets RTP, the call ends once.
func TestCallAudioReachesSink(t *testing.T) {
	addr, h := startServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := newPhone(t).Dial(ctx, addr, "+14255550123", "+18005550199", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := <-h.answered
	if c.Caller != "+14255550123" || c.Dialed != "+18005550199" || c.Codec != "PCMU" {
		t.Fatalf("call %+v", c)
	}
	if err := call.SendAudio(ctx, audio.Tone(1000, time.Second, 8000, 8000)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the playout delay drain before BYE
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if reason := <-h.ended; reason != sip.EndRemoteHangup {
		t.Fatalf("end reason %q", reason)
	}
	if call.ReceivedPackets() < 20 {
		t.Fatalf("gateway sent %d RTP packets to the caller", call.ReceivedPackets())
	}
	h.mu.Lock()
	audio := h.audio
	h.mu.Unlock()
	// Find the tone: ~1 s of samples with the RMS of an 8000-peak sine.
	var loud int
	for i := 0; i+160 <= len(audio); i += 160 {
		if r := rms(audio[i : i+160]); r > 5000 && r < 6300 {
			loud++
		}
	}
	if loud < 45 || loud > 51 {
		t.Fatalf("%d loud frames of %d, want ~50 (1 s of tone)", loud, len(audio)/160)
	}
}

// TestRefusals checks 488 for an offer without G.711 and 400 for a
// malformed offer or request, and that none disturbs the next call. (An
// INVITE without an offer is a delayed offer: delayed_test.go.)
func TestRefusals(t *testing.T) {
	addr, h := startServer(t, 0)
	p := newPhone(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	status := func(err error) int {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return de.Res.StatusCode
		}
		t.Fatalf("not a SIP refusal: %v", err)
		return 0
	}
	_, err := p.DialSDP(ctx, addr, "a", "b", "application/sdp", siptest.Offer("127.0.0.1", 7000, 18), nil)
	if got := status(err); got != 488 {
		t.Fatalf("G.729-only offer: %d, want 488", got)
	}
	_, err = p.DialSDP(ctx, addr, "a", "b", "application/sdp", []byte("garbage"), nil)
	if got := status(err); got != 400 {
		t.Fatalf("garbage SDP: %d, want 400", got)
	}
	if line := rawRequest(t, addr, "INVITE", "X-Missing: CSeq\r\n", 2*time.Second); !strings.HasPrefix(line, "SIP/2.0 400") {
		t.Fatalf("INVITE without CSeq: %q, want 400", line)
	}
	if line := rawRequest(t, addr, "BYE", "", 2*time.Second); !strings.HasPrefix(line, "SIP/2.0 481") {
		t.Fatalf("BYE outside a dialog: %q, want 481", line)
	}
	// Unparseable bytes are dropped; the server keeps serving.
	if c, err := net.Dial("udp", addr); err == nil {
		c.Write([]byte("\x00\x01garbage\r\n\r\n"))
		c.Close()
	}
	call, err := p.Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatalf("call after bad input: %v", err)
	}
	<-h.answered
	call.Hangup(ctx)
	<-h.ended
}

// TestCancelBeforeAnswer cancels a ringing call: no call is reported.
func TestCancelBeforeAnswer(t *testing.T) {
	addr, h := startServer(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dialCtx, hang := context.WithCancel(ctx)
	var codes []int
	_, err := newPhone(t).Dial(dialCtx, addr, "a", "b", func(r *siplib.Response) {
		codes = append(codes, r.StatusCode)
		if r.StatusCode == 180 {
			hang() // CANCEL
		}
	})
	if err == nil {
		t.Fatal("canceled call was answered")
	}
	if len(codes) == 0 || codes[len(codes)-1] != 180 {
		t.Fatalf("responses %v, want ringing", codes)
	}
	select {
	case c := <-h.answered:
		t.Fatalf("canceled call reported answered: %v", c.ID)
	case <-time.After(500 * time.Millisecond):
	}
}

// TestHangupFromGateway checks that Call.Hangup sends BYE to the caller.
func TestHangupFromGateway(t *testing.T) {
	addr, h := startServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := <-h.answered
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-call.Ended():
	case <-ctx.Done():
		t.Fatal("caller never got BYE")
	}
	if reason := <-h.ended; reason != sip.EndLocalHangup {
		t.Fatalf("end reason %q", reason)
	}
	call.Close()
}

// TestRTPTimeoutHangsUp checks that a caller who goes silent at the RTP
// level (gone without BYE) is hung up.
func TestRTPTimeoutHangsUp(t *testing.T) {
	addr, h := startServer(t, 0, func(c *sip.Config) { c.RTPTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	call, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-h.answered
	select {
	case <-call.Ended():
	case <-ctx.Done():
		t.Fatal("silent caller never got BYE")
	}
	if reason := <-h.ended; reason != sip.EndRTPTimeout {
		t.Fatalf("end reason %q", reason)
	}
	call.Close()
}

// BenchmarkInvite measures a whole call setup and teardown over loopback
// UDP: INVITE, 100/180/200 with SDP, ACK, BYE, 200, port release.
func BenchmarkInvite(b *testing.B) {
	addr, h := startServer(b, 0)
	go func() {
		for range h.ended {
		}
	}()
	go func() {
		for range h.answered {
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := siptest.NewPhone(ctx, "127.0.0.1")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		call, err := p.Dial(ctx, addr, "a", "b", nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := call.Hangup(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// An INVITE whose 200 OK is never ACKed (a spoofed source) gives its RTP
// port back at the ACK timeout, not after the transaction's ~35 s: with a
// range of one port, a real call gets through soon after.
func TestUnackedInviteFreesPort(t *testing.T) {
	base := 20000 + freePort(t)%50*200
	addr, h := startServer(t, 0, func(c *sip.Config) {
		c.Media = newEngine(t, base, base)
		c.AckTimeout = 300 * time.Millisecond
	})
	spoofed, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer spoofed.Close()
	local := spoofed.LocalAddr().String()
	body := string(siptest.Offer("127.0.0.1", 7000, 0))
	fmt.Fprintf(spoofed, "INVITE sip:svc@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKnoack\r\nFrom: <sip:x@%s>;tag=1\r\nTo: <sip:svc@%s>\r\n"+
		"Call-ID: noack-%d\r\nCSeq: 1 INVITE\r\nContact: <sip:x@%s>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s",
		addr, local, local, addr, time.Now().UnixNano(), local, len(body), body)
	buf := make([]byte, 4096)
	spoofed.SetReadDeadline(time.Now().Add(5 * time.Second))
	for { // the 200 OK: the port is taken
		n, err := spoofed.Read(buf)
		if err != nil {
			t.Fatalf("no 200 OK for the INVITE: %v", err)
		}
		if strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			break
		}
	}
	p := newPhone(t)
	deadline := time.Now().Add(15 * time.Second) // the transaction alone would hold it ~35 s
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		call, err := p.Dial(ctx, addr, "a", "b", nil)
		if err == nil {
			<-h.answered
			call.Hangup(ctx)
			cancel()
			return
		}
		cancel()
		var de *sipgo.ErrDialogResponse
		if !errors.As(err, &de) || de.Res.StatusCode != 503 || time.Now().After(deadline) {
			t.Fatalf("call after an unACKed INVITE: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A TCP connection that sends nothing is closed at the idle timeout.
func TestTCPIdleClosed(t *testing.T) {
	addr, _ := startServer(t, 0, func(c *sip.Config) { c.TCPIdleTimeout = 300 * time.Millisecond })
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("idle TCP connection still open: %v", err)
	}
}
