package siptest

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/botline/botline/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

// Call is a call placed by a Phone.
type Call struct {
	Dialog   *sipgo.DialogClientSession
	RTP      *net.UDPConn
	Remote   netip.AddrPort // where the far end wants RTP
	PT       uint8          // negotiated payload type (0 PCMU, 8 PCMA)
	received chan struct{}
	mu       sync.Mutex
	stats    media.RTPStats
	loud     int // audio packets that were not silence
	keys     []byte
	keysIn   media.DTMFDetector
	in       rtp.Header // the packet receive is reading

	// shared, when set, is the socket the call shares with others (RTP is
	// then its conn); remoteSSRC is the SSRC the answer declared, 0 if none.
	shared     *RTPPort
	remoteSSRC uint32

	// sending state, owned by whoever calls SendPacket
	out     rtp.Packet
	outBuf  []byte
	encode  func(int16) uint8
	dst     netip.AddrPort
	dtmfPT  uint8
	dtmf    []byte // digits waiting to be sent
	dtmfPos int    // packets of the current digit sent
}

// Request sends an in-dialog request (re-INVITE, INFO, UPDATE...) and
// returns the final response; a 2xx to INVITE is ACKed.
func (c *Call) Request(ctx context.Context, method sip.RequestMethod, contentType string, body []byte, hdrs ...sip.Header) (*sip.Response, error) {
	return c.request(ctx, method, contentType, body, nil, hdrs...)
}

// RequestAck sends a re-INVITE with no SDP and ACKs its 2xx with the SDP
// answer answer(offer) to the offer the 2xx carries.
func (c *Call) RequestAck(ctx context.Context, answer func(offer []byte) []byte) (*sip.Response, error) {
	return c.request(ctx, sip.INVITE, "", nil, answer)
}

func (c *Call) request(ctx context.Context, method sip.RequestMethod, contentType string, body []byte, answer func([]byte) []byte, hdrs ...sip.Header) (*sip.Response, error) {
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
		if answer != nil {
			ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			ack.SetBody(answer(res.Body()))
		}
		if err := c.Dialog.WriteRequest(ack); err != nil {
			return res, fmt.Errorf("ack: %w", err)
		}
	}
	return res, nil
}

// Ended is done when the call ended (either side hung up).
func (c *Call) Ended() <-chan struct{} { return c.Dialog.Context().Done() }

// Hangup sends BYE.
func (c *Call) Hangup(ctx context.Context) error {
	defer c.close()
	return c.Dialog.Bye(ctx)
}

func (c *Call) close() {
	if c.shared != nil {
		c.shared.remove(c)
	} else if c.RTP != nil {
		c.RTP.Close()
	}
}

// Close releases the call's socket after the far end hung up.
func (c *Call) Close() { c.close(); c.Dialog.Close() }
