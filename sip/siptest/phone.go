package siptest

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

// Phone is a SIP endpoint that can place calls.
type Phone struct {
	ip      string
	port    int
	ua      *sipgo.UserAgent
	srv     *sipgo.Server
	dialogs *sipgo.DialogClientCache
	conn    net.PacketConn

	// User and Password answer a digest challenge to an INVITE; empty =
	// a challenge fails the call.
	User, Password string
	// AckAnswer, if set, makes the ACK carry an SDP answer to the 200 OK's
	// body (a delayed offer: the INVITE went without SDP).
	AckAnswer func(offer []byte) []byte

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

// Offer returns an SDP offer for an RTP socket at ip:port with the given
// payload types (rtpmap for 0, 8, 18 and 101 included).
func Offer(ip string, port int, pts ...uint8) []byte { return offer(ip, port, 0, pts...) }

// offer is Offer declaring ssrc (RFC 5576 a=ssrc) unless it is 0.
func offer(ip string, port int, ssrc uint32, pts ...uint8) []byte {
	names := map[uint8]string{0: "PCMU/8000", 8: "PCMA/8000", 18: "G729/8000", 101: "telephone-event/8000"}
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: []string{"RTP", "AVP"}}}
	for _, pt := range pts {
		md.MediaName.Formats = append(md.MediaName.Formats, fmt.Sprint(pt))
		md.Attributes = append(md.Attributes, sdp.Attribute{Key: "rtpmap", Value: fmt.Sprintf("%d %s", pt, names[pt])})
	}
	if ssrc != 0 {
		md.Attributes = append(md.Attributes, sdp.Attribute{Key: "ssrc", Value: fmt.Sprintf("%d cname:caller", ssrc)})
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
// response (e.g. to CANCEL by ending ctx after 180). The call's RTP has a
// socket of its own.
func (p *Phone) Dial(ctx context.Context, target, from, to string, onResponse func(*sip.Response)) (*Call, error) {
	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(net.JoinHostPort(p.ip, "0"))))
	if err != nil {
		return nil, fmt.Errorf("rtp listen: %w", err)
	}
	c, err := p.dial(ctx, rtpConn, mrand.Uint32(), false, target, from, to, onResponse)
	if err != nil {
		rtpConn.Close()
		return nil, err
	}
	go c.drain()
	return c, nil
}

// DialVia is Dial with the call's RTP on the shared socket port: the offer
// declares the call's SSRC (a=ssrc) so the far end tells the calls apart,
// and the far end's stream is found by its address and the SSRC its answer
// declared.
func (p *Phone) DialVia(ctx context.Context, port *RTPPort, target, from, to string, onResponse func(*sip.Response)) (*Call, error) {
	c, err := p.dial(ctx, port.conn, mrand.Uint32()|1, true, target, from, to, onResponse)
	if err != nil {
		return nil, err
	}
	c.shared = port
	port.add(c)
	return c, nil
}

// dial places a call whose RTP is on conn, sending with ssrc (declared in
// the offer when declare is set).
func (p *Phone) dial(ctx context.Context, conn *net.UDPConn, ssrc uint32, declare bool, target, from, to string, onResponse func(*sip.Response)) (*Call, error) {
	declared := uint32(0)
	if declare {
		declared = ssrc
	}
	body := offer(p.ip, conn.LocalAddr().(*net.UDPAddr).Port, declared, 0, 8, 101)
	c, err := p.DialSDP(ctx, target, from, to, "application/sdp", body, onResponse)
	if err != nil {
		return nil, err
	}
	c.RTP = conn
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
		switch {
		case a.Key == "rtpmap" && strings.Contains(a.Value, "telephone-event"):
			fmt.Sscan(a.Value, &pt)
			c.dtmfPT = pt
		case a.Key == "ssrc" && c.remoteSSRC == 0:
			fmt.Sscan(a.Value, &c.remoteSSRC)
		}
	}
	c.initSender(ssrc)
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
	err = dlg.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.User, Password: p.Password, OnResponse: func(r *sip.Response) error {
		if onResponse != nil {
			onResponse(r)
		}
		return nil
	}})
	if err != nil {
		return nil, err
	}
	if p.AckAnswer != nil {
		target := dlg.InviteRequest.Recipient
		if ct := dlg.InviteResponse.Contact(); ct != nil {
			target = ct.Address
		}
		ack := sip.NewRequest(sip.ACK, target)
		ack.AppendHeader(&sip.CSeqHeader{SeqNo: dlg.InviteRequest.CSeq().SeqNo, MethodName: sip.ACK})
		ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		ack.SetBody(p.AckAnswer(dlg.InviteResponse.Body()))
		err = dlg.WriteAck(ctx, ack)
	} else {
		err = dlg.Ack(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("ack: %w", err)
	}
	c := &Call{Dialog: dlg, received: make(chan struct{})}
	p.mu.Lock()
	p.calls[dlg.InviteRequest.CallID().Value()] = c
	p.mu.Unlock()
	return c, nil
}
