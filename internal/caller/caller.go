// Package caller is a SIP caller on sipgo and pion/rtp: it places calls,
// streams G.711 audio with real pacing, and answers the far end's BYE. The
// tests use it as a real SIP peer.
package caller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

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
	nRecv    int
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
	return &Call{Dialog: dlg, received: make(chan struct{})}, nil
}

// drain counts the far end's RTP; Received is closed on the first packet.
func (c *Call) drain() {
	buf := make([]byte, 1500)
	for {
		if _, err := c.RTP.Read(buf); err != nil {
			return
		}
		c.mu.Lock()
		c.nRecv++
		if c.nRecv == 1 {
			close(c.received)
		}
		c.mu.Unlock()
	}
}

// ReceivedPackets is how many RTP packets the far end sent so far.
func (c *Call) ReceivedPackets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nRecv
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
	encode := g711.EncodeUlawFrame
	if c.PT == 8 {
		encode = g711.EncodeAlawFrame
	}
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.PT, SSRC: 0x1234abcd, SequenceNumber: 1000, Timestamp: 5000}}
	pkt.Payload = make([]byte, 160)
	buf := make([]byte, 1500)
	dst := net.UDPAddrFromAddrPort(c.Remote)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for off := 0; off+160 <= len(samples); off += 160 {
		for i := range 160 {
			pkt.Payload[i] = encode(samples[off+i])
		}
		n, err := pkt.MarshalTo(buf)
		if err != nil {
			return err
		}
		if _, err := c.RTP.WriteTo(buf[:n], dst); err != nil {
			return fmt.Errorf("send rtp: %w", err)
		}
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
