package sip

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// allow lists the methods botline answers.
const allow = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE, NOTIFY"

// minSessionExpires is the smallest session interval we accept (RFC 4028).
const minSessionExpires = 90

// sessionTimer returns the headers that accept the session timer a request
// asked for (RFC 4028): the caller refreshes (its re-INVITE or UPDATE keeps
// the session alive) at the interval it asked, never under 90 s.
func sessionTimer(req *sip.Request) []sip.Header {
	h := req.GetHeader("Session-Expires")
	if h == nil {
		h = req.GetHeader("x") // compact form
	}
	if h == nil {
		return nil
	}
	v, _, _ := strings.Cut(h.Value(), ";")
	secs, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return nil
	}
	secs = max(secs, minSessionExpires)
	return []sip.Header{
		sip.NewHeader("Session-Expires", strconv.Itoa(secs)+";refresher=uac"),
		sip.NewHeader("Require", "timer"),
	}
}

// onReinvite answers an INVITE inside a call's dialog: a session refresh
// (no SDP: our current SDP as an offer, whose answer the ACK may carry:
// takeReofferAnswer), hold/unhold (sendonly, inactive or
// the 0.0.0.0 address), a new address or a codec change.
func (s *Server) onReinvite(c *Call, req *sip.Request, tx sip.ServerTransaction) {
	log := s.log.With("callId", c.ID)
	select {
	case <-c.ready:
	default:
		respond(tx, req, 491, "Request Pending", log) // our answer is not done yet
		return
	}
	c.reinvite.Lock() // one offer/answer at a time
	defer c.reinvite.Unlock()
	if err := c.dialog.ReadRequest(req, tx); err != nil {
		respond(tx, req, 500, "Server Internal Error", log) // RFC 3261 §14.2: out of order
		return
	}
	if c.SIPREC != nil {
		s.reinviteRecording(c, req, tx, log)
		return
	}
	offer := c.lastOffer
	if len(req.Body()) > 0 {
		o, err := ParseOffer(req.Body())
		rekey := false
		if err == nil && c.lastOffer != nil {
			rekey, err = renegotiateSRTP(o, c.lastOffer)
		}
		if err == nil && rekey && c.media != nil {
			err = c.media.Rekey(o.Crypto[0].Suite, o.Crypto[0].Key)
		}
		if err != nil {
			code, reason := offerStatus(err)
			log.Warn("re-INVITE refused", "status", code, "err", err)
			respond(tx, req, code, reason, log)
			return
		}
		offer = o
		if c.media != nil {
			c.media.Update(o.params(o.Hold()))
		}
		log.Info("re-INVITE", "hold", o.Hold(), "codec", o.Codec.Name, "rtpRemote", o.Remote.String())
	}
	if offer == nil {
		respond(tx, req, 488, "Not Acceptable Here", log)
		return
	}
	offer.localSSRC = c.ssrc // the answer declares the same stream
	c.lastOffer = offer
	c.sdpVersion++
	answer, err := answerVersion(offer, s.media.IP(), c.rtpPort, c.sdpID, c.sdpVersion)
	if err != nil {
		respond(tx, req, 500, "Server Internal Error", log)
		return
	}
	if len(req.Body()) == 0 { // our SDP was an offer: the answer comes in the ACK
		c.mu.Lock()
		c.reoffered = true
		c.mu.Unlock()
	}
	c.respondSDP(tx, req, answer, log)
}

// respondSDP answers an in-dialog INVITE with 200 and our SDP: the call's
// Contact, and the session timer the request asked for.
func (c *Call) respondSDP(tx sip.ServerTransaction, req *sip.Request, body []byte, log *slog.Logger) {
	res := sip.NewResponseFromRequest(req, 200, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.HeaderClone(c.contact))
	for _, h := range sessionTimer(req) {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		log.Debug("sip respond failed", "err", err)
	}
}

// mediaType is a Content-Type's type/subtype, lower case ("" if none).
func mediaType(ct *sip.ContentTypeHeader) string {
	if ct == nil {
		return ""
	}
	t, _, _ := strings.Cut(ct.Value(), ";")
	return strings.ToLower(strings.TrimSpace(t))
}

// takeReofferAnswer applies the answer an ACK carries to our offer in the
// 200 OK of an SDP-less re-INVITE: a new address, hold, or the codec
// among the one we offered. An ACK without SDP keeps the session as it
// was; an unusable answer is logged and ignored (the call goes on).
func (s *Server) takeReofferAnswer(c *Call, body []byte) {
	c.mu.Lock()
	pending := c.reoffered
	c.reoffered = false
	c.mu.Unlock()
	if !pending || len(body) == 0 {
		return
	}
	c.reinvite.Lock()
	defer c.reinvite.Unlock()
	a, err := ParseOffer(body)
	if err == nil && c.lastOffer != nil && a.Codec.PayloadType != c.lastOffer.Codec.PayloadType {
		err = fmt.Errorf("%w: payload type %d was not offered", ErrBadAnswer, a.Codec.PayloadType)
	}
	if err == nil && c.lastOffer != nil {
		_, err = renegotiateSRTP(a, c.lastOffer)
	}
	if err != nil {
		s.log.Warn("answer in the ACK ignored", "callId", c.ID, "err", err)
		return
	}
	if c.media != nil {
		c.media.Update(a.params(a.Hold()))
	}
	c.lastOffer = a
	s.log.Info("re-INVITE answered in the ACK", "callId", c.ID, "hold", a.Hold(), "rtpRemote", a.Remote.String())
}

// onUpdate answers UPDATE (RFC 3311), the session keep-alive of RFC 4028
// that carries no SDP. An UPDATE with an offer is answered like a
// re-INVITE's.
func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	defer s.guard(req, tx)
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	if len(req.Body()) > 0 {
		s.onReinvite(c, req, tx)
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.HeaderClone(c.contact))
	for _, h := range sessionTimer(req) {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "err", err)
	}
}

// onInfo takes SIP INFO key presses (application/dtmf-relay or
// application/dtmf); other INFO packages are acknowledged and ignored.
func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	defer s.guard(req, tx)
	c := s.inDialog(req, tx)
	if c == nil {
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	digit, ok := parseDTMFInfo(ct, req.Body())
	if !ok && strings.HasPrefix(strings.ToLower(ct), "application/dtmf") {
		respond(tx, req, 400, "Bad Request", s.log)
		return
	}
	respond(tx, req, 200, "OK", s.log)
	select {
	case <-c.ready:
	default:
		return // not answered yet
	}
	if ok && c.answered {
		s.cfg.Handler.CallDTMF(c, digit)
	}
}

// inDialog returns the call a request belongs to, or answers 481 and
// returns nil.
func (s *Server) inDialog(req *sip.Request, tx sip.ServerTransaction) *Call {
	c := s.lookup(req)
	if c == nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist", s.log)
	}
	return c
}
