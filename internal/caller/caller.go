// Package caller is a SIP caller on sipgo and pion/rtp: it places calls,
// streams G.711 audio with real pacing, and answers the far end's BYE. The
// tests use it as a real SIP peer.
package caller

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	botsip "github.com/botline/botline/sip"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/zaf/g711"
)

// Phone is a SIP endpoint that can place calls.
type Phone struct {
	ip      string
	port    int
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	dialogs *sipgo.DialogClientCache
	conn    net.PacketConn

	mu    sync.Mutex
	calls map[string]*Call // by Call-ID
	// referred, when set (AcceptRefer), gets the call placed to each REFER's
	// target, or the error placing it.
	referred chan Referred
}

// Referred is the outcome of a REFER the phone took: the new call to the
// target, or why it failed.
type Referred struct {
	Call *Call
	Err  error
}

// AcceptRefer makes the phone take REFERs (RFC 3515): it answers 202,
// calls the Refer-To target, reports the outcome with NOTIFY (a
// message/sipfrag status line) and sends the new call on the channel.
func (p *Phone) AcceptRefer() <-chan Referred {
	ch := make(chan Referred, 4)
	p.mu.Lock()
	p.referred = ch
	p.mu.Unlock()
	return ch
}

func (p *Phone) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	c, ch := p.calls[req.CallID().Value()], p.referred
	p.mu.Unlock()
	if c == nil || ch == nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil))
		return
	}
	h := req.GetHeader("Refer-To")
	var target sip.Uri
	if h == nil || sip.ParseUri(strings.Trim(strings.TrimSpace(h.Value()), "<>"), &target) != nil {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Refer-To", nil))
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, 202, "Accepted", nil))
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		notify := func(status string) {
			_, _ = c.Request(ctx, sip.NOTIFY, "message/sipfrag;version=2.0", []byte(status+"\r\n"),
				sip.NewHeader("Event", "refer"), sip.NewHeader("Subscription-State", "terminated;reason=noresource"))
		}
		nc, err := p.Dial(ctx, fmt.Sprintf("%s:%d", target.Host, target.Port), "+14255550123", target.User, nil)
		if err != nil {
			notify("SIP/2.0 503 Service Unavailable")
			ch <- Referred{Err: err}
			return
		}
		notify("SIP/2.0 200 OK")
		ch <- Referred{Call: nc}
	}()
}

// NewPhone listens for SIP on ip (UDP, a free port) until ctx ends.
func NewPhone(ctx context.Context, ip string) (*Phone, error) {
	conn, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return nil, fmt.Errorf("phone listen: %w", err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("botline-caller"), sipgo.WithUserAgentHostname(ip))
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("phone ua: %w", err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return nil, fmt.Errorf("phone server: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientAddr(net.JoinHostPort(ip, fmt.Sprint(port))))
	if err != nil {
		return nil, fmt.Errorf("phone client: %w", err)
	}
	p := &Phone{ip: ip, port: port, ua: ua, srv: srv, conn: conn}
	p.dialogs = sipgo.NewDialogClientCache(client, sip.ContactHeader{Address: sip.Uri{User: "caller", Host: ip, Port: port}})
	p.calls = map[string]*Call{}
	srv.OnRefer(p.onRefer)
	srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if err := p.dialogs.ReadBye(req, tx); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		}
	})
	go func() { _ = srv.ServeUDP(conn) }()
	go func() { <-ctx.Done(); ua.Close(); conn.Close() }()
	return p, nil
}

// Addr is the phone's SIP address.
func (p *Phone) Addr() string { return net.JoinHostPort(p.ip, fmt.Sprint(p.port)) }

// Call is a call placed by a Phone.
type Call struct {
	Dialog   *sipgo.DialogClientSession
	RTP      *net.UDPConn
	Remote   netip.AddrPort // where the far end wants RTP
	PT       uint8          // negotiated payload type (0 PCMU, 8 PCMA)
	received chan struct{}
	mu       sync.Mutex
	stats    botsip.RTPStats
	loud     int // audio packets that were not silence
	keys     []byte
	keysIn   botsip.DTMFDetector

	// sending state, owned by whoever calls SendPacket
	out     rtp.Packet
	outBuf  []byte
	encode  func(int16) uint8
	dst     netip.AddrPort
	dtmfPT  uint8
	dtmf    []byte // digits waiting to be sent
	dtmfPos int    // packets of the current digit sent
}

// Offer returns an SDP offer for an RTP socket at ip:port with the given
// payload types (rtpmap for 0, 8, 18 and 101 included).
func Offer(ip string, port int, pts ...uint8) []byte {
	names := map[uint8]string{0: "PCMU/8000", 8: "PCMA/8000", 18: "G729/8000", 101: "telephone-event/8000"}
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: []string{"RTP", "AVP"}}}
	for _, pt := range pts {
		md.MediaName.Formats = append(md.MediaName.Formats, fmt.Sprint(pt))
		md.Attributes = append(md.Attributes, sdp.Attribute{Key: "rtpmap", Value: fmt.Sprintf("%d %s", pt, names[pt])})
	}
	sd := sdp.SessionDescription{
		Origin:                sdp.Origin{Username: "caller", SessionID: 1, SessionVersion: 1, NetworkType: "IN", AddressType: "IP4", UnicastAddress: ip},
		SessionName:           "call",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: "IP4", Address: &sdp.Address{Address: ip}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions:     []*sdp.MediaDescription{md},
	}
	b, _ := sd.Marshal()
	return b
}

// Dial calls sip:to@target from the user from, offering PCMU, PCMA and
// telephone-event, and returns once the call is answered and ACKed. A
// refusal is a *sipgo.ErrDialogResponse. onResponse, if set, sees every
// response (e.g. to CANCEL by ending ctx after 180).
func (p *Phone) Dial(ctx context.Context, target, from, to string, onResponse func(*sip.Response)) (*Call, error) {
	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(net.JoinHostPort(p.ip, "0"))))
	if err != nil {
		return nil, fmt.Errorf("rtp listen: %w", err)
	}
	offer := Offer(p.ip, rtpConn.LocalAddr().(*net.UDPAddr).Port, 0, 8, 101)
	c, err := p.DialSDP(ctx, target, from, to, "application/sdp", offer, onResponse)
	if err != nil {
		rtpConn.Close()
		return nil, err
	}
	c.RTP = rtpConn
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(c.Dialog.InviteResponse.Body()); err != nil {
		return c, fmt.Errorf("answer SDP: %w", err)
	}
	md := sd.MediaDescriptions[0]
	ip := sd.ConnectionInformation.Address.Address
	c.Remote = netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(md.MediaName.Port.Value))
	fmt.Sscan(md.MediaName.Formats[0], &c.PT)
	for _, a := range md.Attributes {
		var pt uint8
		if a.Key == "rtpmap" && strings.Contains(a.Value, "telephone-event") {
			fmt.Sscan(a.Value, &pt)
			c.dtmfPT = pt
		}
	}
	c.initSender()
	go c.drain()
	return c, nil
}

// DialSDP sends an INVITE with the given body (any content type, for
// negative tests) and returns once it is answered and ACKed.
func (p *Phone) DialSDP(ctx context.Context, target, from, to, contentType string, body []byte, onResponse func(*sip.Response)) (*Call, error) {
	host, portStr, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	var port int
	fmt.Sscan(portStr, &port)
	recipient := sip.Uri{User: to, Host: host, Port: port}
	fromHdr := &sip.FromHeader{Address: sip.Uri{User: from, Host: p.ip, Port: p.port}, Params: sip.NewParams()}
	fromHdr.Params.Add("tag", sip.GenerateTagN(16))
	hdrs := []sip.Header{fromHdr}
	if contentType != "" {
		hdrs = append(hdrs, sip.NewHeader("Content-Type", contentType))
	}
	dlg, err := p.dialogs.Invite(context.WithoutCancel(ctx), recipient, body, hdrs...)
	if err != nil {
		return nil, fmt.Errorf("invite: %w", err)
	}
	err = dlg.WaitAnswer(ctx, sipgo.AnswerOptions{OnResponse: func(r *sip.Response) error {
		if onResponse != nil {
			onResponse(r)
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	if err := dlg.Ack(ctx); err != nil {
		return nil, fmt.Errorf("ack: %w", err)
	}
	c := &Call{Dialog: dlg, received: make(chan struct{})}
	p.mu.Lock()
	p.calls[dlg.InviteRequest.CallID().Value()] = c
	p.mu.Unlock()
	return c, nil
}

func (c *Call) initSender() {
	c.encode = g711.EncodeUlawFrame
	if c.PT == 8 {
		c.encode = g711.EncodeAlawFrame
	}
	c.out = rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.PT, SSRC: mrand.Uint32(), SequenceNumber: uint16(mrand.Uint32()), Timestamp: mrand.Uint32()}}
	c.out.Payload = make([]byte, 160)
	c.outBuf = make([]byte, 1500)
	c.dst = c.Remote
}

// drain measures the far end's RTP.
func (c *Call) drain() {
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, err := c.RTP.Read(buf)
		if err != nil {
			return
		}
		off, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		loud := h.PayloadType == c.PT && c.loudPayload(buf[off:n])
		now := time.Now()
		c.mu.Lock()
		if loud {
			c.loud++
		}
		if h.PayloadType == 101 {
			if k, ok := c.keysIn.Packet(buf[off:n], h.Timestamp); ok {
				c.keys = append(c.keys, k)
			}
		}
		c.stats.Update(h.SequenceNumber, h.Timestamp, now)
		if c.stats.Received == 1 {
			close(c.received)
		}
		c.mu.Unlock()
	}
}

// loudPayload reports whether a G.711 payload holds more than silence
// (every sample is looked at: a stride would alias with some tones).
func (c *Call) loudPayload(p []byte) bool {
	decode := g711.DecodeUlawFrame
	if c.PT == 8 {
		decode = g711.DecodeAlawFrame
	}
	for _, b := range p {
		if v := decode(b); v > 500 || v < -500 {
			return true
		}
	}
	return false
}

// Keys returns the keys the far end sent as RFC 4733 events (payload
// type 101) so far.
func (c *Call) Keys() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.keys)
}

// Request sends an in-dialog request (re-INVITE, INFO, UPDATE...) and
// returns the final response; a 2xx to INVITE is ACKed.
func (c *Call) Request(ctx context.Context, method sip.RequestMethod, contentType string, body []byte, hdrs ...sip.Header) (*sip.Response, error) {
	target := c.Dialog.InviteRequest.Recipient
	if ct := c.Dialog.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(method, target)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if contentType != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	res, err := c.Dialog.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if method == sip.INVITE && res.IsSuccess() {
		ack := sip.NewRequest(sip.ACK, target)
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: req.CSeq().SeqNo, MethodName: sip.ACK})
		if err := c.Dialog.WriteRequest(ack); err != nil {
			return res, fmt.Errorf("ack: %w", err)
		}
	}
	return res, nil
}

// LoudPackets is how many of the far end's audio packets were not silence.
func (c *Call) LoudPackets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loud
}

// ReceivedPackets is how many RTP packets the far end sent so far.
func (c *Call) ReceivedPackets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.stats.Received)
}

// Stats returns the statistics of the far end's RTP so far.
func (c *Call) Stats() botsip.RTPStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// QueueDTMF queues digits (0-9, *, #) to be sent as RFC 4733 events by
// SendPacket, in place of audio. It reports false when the far end did not
// accept telephone-event. Not safe concurrently with SendPacket.
func (c *Call) QueueDTMF(digits string) bool {
	if c.dtmfPT == 0 {
		return false
	}
	c.dtmf = append(c.dtmf, digits...)
	return true
}

// dtmfEvent maps a digit to its RFC 4733 event code.
func dtmfEvent(d byte) byte {
	switch {
	case d >= '0' && d <= '9':
		return d - '0'
	case d == '*':
		return 10
	case d == '#':
		return 11
	}
	return 0
}

// SkipFrames advances the stream's timestamp by n 20 ms frames not sent
// (a sender that fell behind), so the far end sees a gap, not lateness.
func (c *Call) SkipFrames(n int) { c.out.Timestamp += uint32(n * 160) }

// SendPacket sends the next 20 ms packet: the 160 samples given, or, while
// digits are queued, the current RFC 4733 event (5 packets of 100 ms tone
// plus 3 end packets, one timestamp per event). It allocates nothing.
func (c *Call) SendPacket(samples []int16) error {
	var payload []byte
	if len(c.dtmf) > 0 {
		const toneFrames, endFrames = 5, 3
		c.out.PayloadType = c.dtmfPT
		c.out.Marker = c.dtmfPos == 0
		dur := uint16(min(c.dtmfPos+1, toneFrames) * 160)
		flags := byte(10) // volume
		if c.dtmfPos >= toneFrames {
			flags |= 0x80 // end
		}
		payload = c.outBuf[1400:1404]
		payload[0], payload[1], payload[2], payload[3] = dtmfEvent(c.dtmf[0]), flags, byte(dur>>8), byte(dur)
		c.dtmfPos++
		if c.dtmfPos == toneFrames+endFrames {
			c.dtmf, c.dtmfPos = c.dtmf[1:], 0
			c.out.Timestamp += toneFrames * 160
		}
	} else {
		c.out.PayloadType, c.out.Marker = c.PT, false
		for i := range 160 {
			c.out.Payload[i] = c.encode(samples[i])
		}
		payload = c.out.Payload
		defer func() { c.out.Timestamp += 160 }()
	}
	saved := c.out.Payload
	c.out.Payload = payload
	n, err := c.out.MarshalTo(c.outBuf[:1400])
	c.out.Payload = saved
	if err != nil {
		return err
	}
	c.out.SequenceNumber++
	if _, err := c.RTP.WriteToUDPAddrPort(c.outBuf[:n], c.dst); err != nil {
		return fmt.Errorf("send rtp: %w", err)
	}
	return nil
}

// Ended is done when the call ended (either side hung up).
func (c *Call) Ended() <-chan struct{} { return c.Dialog.Context().Done() }

// Hangup sends BYE.
func (c *Call) Hangup(ctx context.Context) error {
	defer c.close()
	return c.Dialog.Bye(ctx)
}

func (c *Call) close() {
	if c.RTP != nil {
		c.RTP.Close()
	}
}

// Close releases the call's socket after the far end hung up.
func (c *Call) Close() { c.close(); c.Dialog.Close() }

// SendAudio streams samples (8 kHz PCM) as G.711 in 20 ms packets, paced in
// real time, until done or ctx ends.
func (c *Call) SendAudio(ctx context.Context, samples []int16) error {
	if c.RTP == nil {
		return errors.New("call has no media")
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for off := 0; off+160 <= len(samples); off += 160 {
		if err := c.SendPacket(samples[off : off+160]); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
