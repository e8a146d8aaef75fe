package sip

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/botline/botline/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// This file answers a new INVITE, one named step after another: admit it,
// read its body (an SDP offer, none, or a SIPREC session), negotiate the
// offer, take an RTP socket and the dialog, ring and screen, answer and
// wait for the ACK, then start the media and tell the handler.

// invite is one new INVITE on its way to an answered call: what each step
// hands the next.
type invite struct {
	req      *sip.Request
	tx       sip.ServerTransaction
	log      *slog.Logger
	noisy    *slog.Logger // for what a remote party can cause at will: refusals
	received time.Time
	// registered: the call is in the server's table (and counted there),
	// so a refusal no longer gives back its admission.
	registered bool

	offer   *Offer      // nil under a delayed offer until the ACK
	keys    *media.SRTP // the offer's SRTP, nil for plain RTP
	local   *Crypto     // our key in our own offer (delayed offer under SRTP)
	delayed bool        // no SDP: we offer in the 200 OK, the answer comes in the ACK
	sock    media.Socket
	dlg     *sipgo.DialogServerSession
	ssrc    uint32
	ours    []byte // our answer, or under a delayed offer our offer
	call    *Call
}

// refuse answers the INVITE with a final status, logged with why.
func (in *invite) refuse(code int, reason string, why ...any) {
	in.noisy.Warn("call refused", append([]any{"status", code}, why...)...)
	respond(in.tx, in.req, code, reason, in.log)
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	callID := req.CallID().Value()
	in := &invite{req: req, tx: tx, received: time.Now(), log: s.log.With("callId", callID), noisy: s.noisy.With("callId", callID)}
	defer s.guard(req, tx)
	if c := s.lookup(req); c != nil {
		s.onReinvite(c, req, tx)
		return
	}
	if !s.admitCall(req, tx, in.noisy) {
		return
	}
	defer func() {
		if !in.registered { // refused or gone before the answer: admission given back
			s.active.Add(-1)
			s.callGone()
		}
	}()
	body, ok := s.readBody(in)
	if !ok || !s.negotiate(in, body) || !s.takeDialog(in) {
		return
	}
	if !s.ring(in) {
		in.sock.Close()
		return
	}
	if !s.answer(in) {
		return
	}
	s.startMedia(in)
}

// readBody checks the Request-URI and the body's type: an SDP offer (alone
// or in a multipart body), none (a delayed offer), or a SIPREC session,
// which it answers itself. It reports false when the INVITE was answered.
func (s *Server) readBody(in *invite) ([]byte, bool) {
	req := in.req
	if req.Recipient.Headers.Length() > 0 { // RFC 3261 19.1.5; RFC 4475 3.1.2.11 (escruri)
		in.refuse(400, "Bad Request-URI", "reason", "headers in the Request-URI")
		return nil, false
	}
	body := req.Body()
	ct := req.ContentType()
	switch {
	case len(body) > 0 && mediaType(ct) == "multipart/mixed":
		sdpBody, metadata, err := siprecParts(ct.Value(), body)
		switch {
		case err == nil: // SIPREC (RFC 7866)
			rec, offers, err := parseRecording(sdpBody, metadata)
			if err != nil {
				code, reason := offerStatus(err)
				in.noisy.Warn("recording session refused", "status", code, "err", err)
				respond(in.tx, req, code, reason, in.log)
				return nil, false
			}
			s.answerRecording(in, rec, offers, metadata)
			return nil, false
		case errors.Is(err, errNoMetadata): // an SDP in a multipart body
			return sdpBody, true
		default:
			in.refuse(400, "Bad Request", "err", err)
			return nil, false
		}
	case len(body) > 0 && mediaType(ct) != "application/sdp":
		in.noisy.Warn("call refused", "status", 415, "reason", "INVITE body is not SDP")
		res := sip.NewResponseFromRequest(req, 415, "Unsupported Media Type", nil)
		res.AppendHeader(sip.NewHeader("Accept", "application/sdp, multipart/mixed"))
		if err := in.tx.Respond(res); err != nil {
			in.log.Debug("sip respond failed", "err", err)
		}
		return nil, false
	}
	return body, true
}

// negotiate reads the offer and agrees its codec and security (nothing to
// agree under a delayed offer: an empty body); it answers a refusal (400,
// 488) itself and then reports false.
func (s *Server) negotiate(in *invite, body []byte) bool {
	in.delayed = len(body) == 0
	if in.delayed {
		return true
	}
	offer, err := ParseOffer(body)
	if err == nil {
		err = negotiateSRTP(offer, s.cfg.SRTP)
	}
	if err == nil && offer.local != nil {
		in.keys, err = newSRTP(offer.Crypto[0], offer.local)
	}
	if err != nil {
		code, reason := offerStatus(err)
		in.refuse(code, reason, "err", err)
		return false
	}
	in.offer = offer
	return true
}

// takeDialog takes the call's RTP socket, the dialog, and builds our SDP
// and the Call; it answers a failure (503, 400, 500) itself.
func (s *Server) takeDialog(in *invite) bool {
	req := in.req
	sock, err := s.media.Socket()
	if err != nil {
		in.noisy.Error("call refused", "status", 503, "err", err)
		respond(in.tx, req, 503, "Service Unavailable", in.log)
		return false
	}
	ua := s.dialogUA(req)
	dlg, err := ua.ReadInvite(req, in.tx)
	if err != nil {
		sock.Close()
		in.refuse(400, "Bad Request", "err", err)
		return false
	}
	sessID := rand.Uint64() >> 1
	in.ssrc = rand.Uint32() | 1 // never 0: the answer declares it
	if in.delayed {
		in.ours, in.local, err = ourOffer(s.media.IP(), sock.Port(), sessID, s.cfg.SRTP)
	} else {
		in.offer.localSSRC = in.ssrc
		in.ours, err = Answer(in.offer, s.media.IP(), sock.Port(), sessID)
	}
	if err != nil {
		sock.Close()
		in.log.Error("call refused", "status", 500, "err", err)
		_ = dlg.Respond(500, "Server Internal Error", nil)
		return false
	}
	from, to := req.From(), req.To()
	c := &Call{
		ID: req.CallID().Value(), FromURI: from.Address.String(), ToURI: to.Address.String(),
		Caller: from.Address.User, Dialed: to.Address.User, Called: req.Recipient.User,
		Transport: strings.ToUpper(req.Transport()),
		srv:       s, dialog: dlg, done: make(chan struct{}), ready: make(chan struct{}),
		sdpID: sessID, sdpVersion: sessID, lastOffer: in.offer, rtpPort: sock.Port(), ssrc: in.ssrc,
		delayed: in.delayed, contact: &ua.ContactHDR,
	}
	if !in.delayed {
		c.Codec, c.SRTP = in.offer.Codec.Name, srtpSuite(in.offer)
	}
	in.sock, in.dlg, in.call = sock, dlg, c
	return true
}

// ring sends 180 Ringing, waits the ring time, and lets a Screener refuse
// the call. It reports false when the call will not be answered (the
// caller canceled, or the screener refused: answered here).
func (s *Server) ring(in *invite) bool {
	dlg, c, log := in.dlg, in.call, in.log
	if err := dlg.Respond(180, "Ringing", nil); err != nil {
		log.Info("call ended before answer", "err", err)
		return false
	}
	if s.cfg.RingTime > 0 {
		select {
		case <-time.After(s.cfg.RingTime):
		case <-dlg.Context().Done(): // CANCEL: sipgo answered 200 and 487
			log.Info("call canceled", "from", c.FromURI, "to", c.ToURI)
			return false
		}
	}
	if sc, ok := s.cfg.Handler.(Screener); ok {
		if code, reason := sc.CallOffered(dlg.Context(), c); code != 0 {
			log.Warn("call refused", "status", code, "reason", reason)
			var hdrs []sip.Header
			if code == 503 {
				hdrs = append(hdrs, sip.NewHeader("Retry-After", retryAfter))
			}
			_ = dlg.Respond(code, reason, nil, hdrs...)
			return false
		}
	}
	return true
}

// answer registers the call, sends 200 OK and waits for its ACK (with a
// delayed offer, the ACK's answer is negotiated). It reports false when
// the call did not come up; it then ended it (BYE if it was confirmed).
func (s *Server) answer(in *invite) bool {
	c, dlg := in.call, in.dlg
	s.mu.Lock()
	s.calls[dlg.ID] = c
	in.registered = true
	s.mu.Unlock()
	c.Answered = time.Now()
	// sipgo retransmits the 200 OK until the ACK or the transaction's end
	// (~35 s); ending the transaction at AckTimeout stops it sooner.
	noAck := time.AfterFunc(s.cfg.AckTimeout, in.tx.Terminate)
	err := dlg.Respond(200, "OK", in.ours, append(sessionTimer(in.req), sip.NewHeader("Content-Type", "application/sdp"))...)
	noAck.Stop()
	if err == nil && in.delayed {
		var offer *Offer
		if offer, in.keys, err = parseAnswer(c.takeAckSDP(), in.local); err == nil {
			c.Codec, c.SRTP, c.lastOffer, in.offer = offer.Codec.Name, srtpSuite(offer), offer, offer
		}
	}
	if err == nil {
		return true
	}
	// 200 OK not ACKed (or the INVITE was canceled as we answered), or a
	// delayed offer's ACK without a usable answer.
	in.sock.Close()
	close(c.ready)
	s.forget(c)
	in.log.Warn("call not established", "err", err)
	if dlg.LoadState() == sip.DialogStateConfirmed || dlg.LoadState() == sip.DialogStateEstablished {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = c.bye(ctx)
		cancel()
	}
	return false
}

// startMedia builds the call's stream, gives the handler the call (its
// sink takes the audio) and starts the stream. The stream exists before
// the handler runs, so the handler can queue audio to play.
func (s *Server) startMedia(in *invite) {
	c, log := in.call, in.log
	s.setup.Observe(time.Since(in.received))
	log.Info("call answered", "from", c.FromURI, "to", c.ToURI, "codec", c.Codec, "transport", c.Transport, "srtp", c.SRTP,
		"rtpLocal", in.sock.LocalAddr().String(), "rtpRemote", in.offer.Remote.String())
	m := s.media.NewStream(media.StreamConfig{
		Socket: in.sock, Params: in.offer.params(false), SSRC: in.ssrc, Log: log, SignalIP: sourceIP(in.req),
		Timeout: s.cfg.RTPTimeout, OnTimeout: s.onRTPTimeout(c, log, "hanging up: no RTP"),
		OnDTMF: func(d byte) { s.cfg.Handler.CallDTMF(c, d) },
		SRTP:   in.keys,
	})
	c.setMedia(m)
	m.Start(s.cfg.Handler.CallAnswered(c))
	s.up(c)
}

// onRTPTimeout is a stream's OnTimeout: it hangs the call up, off the
// clock's goroutine.
func (s *Server) onRTPTimeout(c *Call, log *slog.Logger, msg string) func() {
	return func() {
		log.Warn(msg, "timeout", s.cfg.RTPTimeout.String())
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = c.hangup(ctx, EndRTPTimeout)
		}()
	}
}

// up marks an answered call whose handler has it: its end is awaited and
// reported from now on.
func (s *Server) up(c *Call) {
	s.ends.Add(1)
	s.ending.Add(1)
	c.answered = true
	close(c.ready)
}
