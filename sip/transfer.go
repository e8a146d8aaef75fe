package sip

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/botline/botline/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

const (
	transferNotifyWait   = 32 * time.Second
	transferAnswerWait   = 60 * time.Second
	referStatusUnknown   = 0
	maxTransferTargetLen = 64
)

// ErrTransfer wraps every transfer failure.
var ErrTransfer = errors.New("transfer failed")

// ErrTransferNotAllowed refuses a target that Config.TransferAllow does not
// match: no REFER or INVITE is sent.
var ErrTransferNotAllowed = errors.New("target not in the transfer allow list")

// ValidTarget reports whether a transfer target is a phone number or SIP
// user part botline will dial: digits, '+', '*', '#', '-', '.', letters.
func ValidTarget(t string) bool {
	if t == "" || len(t) > maxTransferTargetLen {
		return false
	}
	for _, r := range t {
		switch {
		case r >= '0' && r <= '9', r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', strings.ContainsRune("+*#-._", r):
		default:
			return false
		}
	}
	return true
}

// Transfer hands the call to target (a number): first by SIP REFER to the
// caller (RFC 3515), following its NOTIFY reports to the final outcome;
// where the caller refuses REFER, by a new INVITE to target through
// Config.OutboundProxy, bridging the caller's media to the target's. It
// returns nil once the target answered; the call then belongs to the
// target (REFER: the gateway hangs up its leg; bridge: the gateway relays
// until either side hangs up).
func (c *Call) Transfer(ctx context.Context, target string) error {
	if !ValidTarget(target) {
		return fmt.Errorf("%w: invalid target %q", ErrTransfer, target)
	}
	if !TransferAllowed(c.srv.cfg.TransferAllow, target) {
		return fmt.Errorf("%w: %w: %q", ErrTransfer, ErrTransferNotAllowed, target)
	}
	select {
	case <-c.done:
		return fmt.Errorf("%w: the call has ended", ErrTransfer)
	default:
	}
	if !c.transferring.CompareAndSwap(false, true) {
		return fmt.Errorf("%w: a transfer of this call is already in progress", ErrTransfer)
	}
	defer c.transferring.Store(false)
	// The transfer lives only as long as the call: a caller hanging up
	// cancels the REFER's wait or the target's ringing.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	s := c.srv
	code, err := c.refer(ctx, target)
	switch {
	case err == nil:
		s.log.Info("call transferred by REFER", "callId", c.ID, "target", target)
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = c.hangup(hctx, EndTransferred)
		return nil
	case code >= 200 && code < 300:
		return err // accepted, but the caller's new call failed: not ours to redo
	}
	if s.cfg.OutboundProxy == "" {
		return fmt.Errorf("%w: the caller refused REFER (%w) and no outbound proxy is configured for a bridged transfer", ErrTransfer, err)
	}
	s.log.Info("REFER refused; bridging through the outbound proxy", "callId", c.ID, "referStatus", code, "target", target)
	return c.bridgeTo(ctx, target)
}

// referTarget is the URI given to the caller to call, or dialed by us.
func (c *Call) referTarget(target string) sip.Uri {
	s := c.srv
	if host, port, err := net.SplitHostPort(s.cfg.OutboundProxy); err == nil {
		p, _ := strconv.Atoi(port)
		return sip.Uri{User: target, Host: host, Port: p}
	}
	u := sip.Uri{User: target, Host: c.dialog.InviteRequest.From().Address.Host}
	return u
}

// refer sends REFER and waits for the final NOTIFY. It returns the REFER's
// status code and nil once the NOTIFYs report a 2xx from the target.
func (c *Call) refer(ctx context.Context, target string) (int, error) {
	s := c.srv
	req, err := c.toCaller(sip.REFER)
	if err != nil {
		return referStatusUnknown, err
	}
	to := c.referTarget(target)
	req.AppendHeader(sip.NewHeader("Refer-To", "<"+to.String()+">"))
	req.AppendHeader(sip.NewHeader("Referred-By", "<"+s.dialog.ContactHDR.Address.String()+">"))
	notify := make(chan int, 8)
	c.mu.Lock()
	c.referNotify = notify
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.referNotify = nil
		c.mu.Unlock()
	}()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	res, err := c.dialog.Do(rctx, req)
	cancel()
	if err != nil {
		return referStatusUnknown, fmt.Errorf("REFER: %w", err)
	}
	if !res.IsSuccess() {
		return res.StatusCode, fmt.Errorf("REFER answered %d %s", res.StatusCode, res.Reason)
	}
	wait := time.NewTimer(transferNotifyWait)
	defer wait.Stop()
	for {
		select {
		case code := <-notify:
			switch {
			case code >= 200 && code < 300:
				return res.StatusCode, nil
			case code >= 300:
				return res.StatusCode, fmt.Errorf("%w: the target answered %d", ErrTransfer, code)
			}
		case <-wait.C:
			return res.StatusCode, fmt.Errorf("%w: no final NOTIFY after REFER", ErrTransfer)
		case <-c.done:
			// no final NOTIFY: nothing says the caller reached the target
			return res.StatusCode, fmt.Errorf("%w: the caller hung up before the target answered", ErrTransfer)
		case <-ctx.Done():
			return res.StatusCode, fmt.Errorf("%w: %w", ErrTransfer, ctx.Err())
		}
	}
}

// onNotify takes the caller's reports on a REFER (message/sipfrag bodies
// such as "SIP/2.0 200 OK").
func (s *Server) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	defer s.guard(req, tx)
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	respond(tx, req, 200, "OK", s.log)
	code := sipfragStatus(req.Body())
	c.mu.Lock()
	ch := c.referNotify
	c.mu.Unlock()
	if ch != nil && code > 0 {
		select {
		case ch <- code:
		default:
		}
	}
}

// sipfragStatus reads the status code of a message/sipfrag status line.
func sipfragStatus(b []byte) int {
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "SIP/") {
		return 0
	}
	n, err := strconv.Atoi(f[1])
	if err != nil || n < 100 || n > 699 {
		return 0
	}
	return n
}

// bridgeTo calls target through the outbound proxy and relays media
// between the caller and the target.
func (c *Call) bridgeTo(ctx context.Context, target string) error {
	s := c.srv
	sock, err := s.media.Listen()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTransfer, err)
	}
	ok := false
	defer func() {
		if !ok {
			sock.Close()
		}
	}()
	first, dtmf := c.media.Format()
	body, err := offerSDP(s.media.IP(), sock.Port(), rand.Uint64()>>1, first, dtmf)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTransfer, err)
	}
	req := sip.NewRequest(sip.INVITE, c.referTarget(target))
	from := sip.FromHeader{Address: sip.Uri{User: c.Caller, Host: s.dialog.ContactHDR.Address.Host, Port: s.dialog.ContactHDR.Address.Port}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(&from)
	req.AppendHeader(&sip.ToHeader{Address: c.referTarget(target)})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	ictx, cancel := context.WithTimeout(ctx, transferAnswerWait)
	defer cancel()
	leg, err := s.dialog.WriteInvite(ictx, req)
	if err != nil {
		return fmt.Errorf("%w: INVITE %s: %w", ErrTransfer, target, err)
	}
	defer func() {
		if !ok {
			leg.Close()
		}
	}()
	waitErr := leg.WaitAnswer(ictx, sipgo.AnswerOptions{}) // canceled: sipgo CANCELs
	// From an answer on, the target is on the line: every way out hangs it
	// up, a 200 OK that crossed our CANCEL included.
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer bcancel()
	acked := false
	hangUpLeg := func(why error) error {
		if leg.InviteResponse != nil && leg.InviteResponse.IsSuccess() {
			if !acked {
				_ = leg.Ack(bctx)
			}
			_ = leg.Bye(bctx)
		}
		return why
	}
	if waitErr != nil {
		var re *sipgo.ErrDialogResponse
		if errors.As(waitErr, &re) {
			return fmt.Errorf("%w: %s answered %d %s", ErrTransfer, target, re.Res.StatusCode, re.Res.Reason)
		}
		return hangUpLeg(fmt.Errorf("%w: %s did not answer: %w", ErrTransfer, target, waitErr))
	}
	if err := leg.Ack(bctx); err != nil {
		_ = leg.Bye(bctx)
		return fmt.Errorf("%w: ACK: %w", ErrTransfer, err)
	}
	acked = true
	answer, err := ParseOffer(leg.InviteResponse.Body())
	if err != nil {
		return hangUpLeg(fmt.Errorf("%w: the target's SDP answer: %w", ErrTransfer, err))
	}
	// Join the call unless it ended meanwhile; end reads c.leg after
	// closing c.done, so under c.mu one of the two hangs the leg up.
	c.mu.Lock()
	select {
	case <-c.done:
		c.mu.Unlock()
		return hangUpLeg(fmt.Errorf("%w: the caller hung up while %s was answering", ErrTransfer, target))
	default:
	}
	s.mu.Lock()
	s.legs[req.CallID().Value()] = c
	s.mu.Unlock()
	c.leg, c.legCallID = leg, req.CallID().Value()
	c.mu.Unlock()
	c.media.Bridge(sock, answer.params(false))
	ok = true
	s.log.Info("call bridged to transfer target", "callId", c.ID, "target", target, "codec", answer.Codec.Name, "rtpRemote", answer.Remote.String())
	return nil
}

// offerSDP is the offer of a bridged transfer's outbound leg: the caller's
// codec first, the other G.711 second, and telephone-event.
func offerSDP(ip netip.Addr, port int, id uint64, first media.Codec, dtmf uint8) ([]byte, error) {
	other := media.PCMA
	if first.Name == "PCMA" {
		other = media.PCMU
	}
	codecs := []media.Codec{{Name: first.Name, PayloadType: first.PayloadType}, {Name: other.Name, PayloadType: other.PayloadType}}
	if codecs[0].PayloadType == codecs[1].PayloadType { // a dynamic PT equal to the other's static one
		codecs = codecs[:1]
	}
	var formats []string
	var attrs []sdp.Attribute
	for _, k := range codecs {
		formats = append(formats, strconv.Itoa(int(k.PayloadType)))
		attrs = append(attrs, sdp.Attribute{Key: "rtpmap", Value: fmt.Sprintf("%d %s/8000", k.PayloadType, k.Name)})
	}
	if dtmf == 0 {
		dtmf = 101
	}
	formats = append(formats, strconv.Itoa(int(dtmf)))
	attrs = append(attrs, sdp.Attribute{Key: "rtpmap", Value: fmt.Sprintf("%d telephone-event/8000", dtmf)},
		sdp.Attribute{Key: "fmtp", Value: fmt.Sprintf("%d 0-16", dtmf)},
		sdp.Attribute{Key: "ptime", Value: "20"}, sdp.Attribute{Key: "sendrecv"})
	return sessionSDP(ip, id, id, audioMedia(port, formats, attrs))
}
