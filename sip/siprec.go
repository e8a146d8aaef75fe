package sip

// This file makes botline a SIPREC recording server (RFC 7866): an SBC
// forks a call to it with a multipart INVITE (an SDP offering the call's
// two directions as two sendonly audio streams, and the recording
// metadata of RFC 7865 naming who sends which); botline answers recvonly,
// receives both streams and hands them to the handler as the two sides
// of one call, left and right.

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/netip"
	"strings"
	"time"

	"github.com/botline/botline/media"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/sdp/v3"
)

// Recording is what a SIPREC INVITE says about the call it records.
type Recording struct {
	// SessionID is the recorded session's id in the metadata.
	SessionID string
	// Streams are the two recorded directions in the SDP's order: the
	// first is the recording's left channel, the second its right.
	Streams [2]RecordedStream
}

// RecordedStream is one direction of the recorded call.
type RecordedStream struct {
	Label  string // the SDP's a=label
	AOR    string // the sending participant's address of record, e.g. sip:+14255550123@sbc
	Number string // its user part
	Name   string // its display name, if the metadata gave one
}

// ErrSIPRECSRTP refuses (488) a SIPREC offer of SRTP streams.
var ErrSIPRECSRTP = errors.New("SRTP on a SIPREC stream (botline records RTP/AVP)")

// errNoMetadata is a multipart INVITE body without recording metadata.
var errNoMetadata = errors.New("multipart body without application/rs-metadata+xml")

// siprecParts splits a multipart/mixed INVITE body into its SDP and its
// recording metadata.
func siprecParts(contentType string, body []byte) (sdpBody, metadata []byte, err error) {
	_, params, err := mime.ParseMediaType(contentType)
	if err != nil || params["boundary"] == "" {
		return nil, nil, fmt.Errorf("multipart body: bad Content-Type %q", contentType)
	}
	mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("multipart body: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(p, 64<<10))
		if err != nil {
			return nil, nil, fmt.Errorf("multipart body: %w", err)
		}
		mt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		switch mt {
		case "application/sdp":
			// The part ends where the boundary's CRLF begins: give the
			// last line its line end back.
			if !bytes.HasSuffix(b, []byte("\n")) {
				b = append(b, '\r', '\n')
			}
			sdpBody = b
		case "application/rs-metadata+xml":
			metadata = b
		}
	}
	if sdpBody == nil {
		return nil, nil, errors.New("multipart body without application/sdp")
	}
	if metadata == nil {
		return sdpBody, nil, errNoMetadata
	}
	return sdpBody, metadata, nil
}

// rsMetadata is the part of RFC 7865's XML botline reads.
type rsMetadata struct {
	Session struct {
		ID string `xml:"session_id,attr"`
	} `xml:"session"`
	Participants []struct {
		ID     string `xml:"participant_id,attr"`
		NameID struct {
			AOR  string `xml:"aor,attr"`
			Name string `xml:"name"`
		} `xml:"nameID"`
		Send []string `xml:"send"` // the draft format: streams listed in the participant
	} `xml:"participant"`
	Streams []struct {
		ID    string `xml:"stream_id,attr"`
		Label string `xml:"label"`
	} `xml:"stream"`
	Assocs []struct {
		Participant string   `xml:"participant_id,attr"`
		Send        []string `xml:"send"`
	} `xml:"participantstreamassoc"`
}

// parseRecording reads the metadata and the SDP's two audio streams (by
// their a=label) into a Recording, and returns each stream's own offer.
func parseRecording(sdpBody, metadata []byte) (*Recording, [2]*Offer, error) {
	var offers [2]*Offer
	var md rsMetadata
	if err := xml.Unmarshal(metadata, &md); err != nil {
		return nil, offers, fmt.Errorf("%w: recording metadata: %w", ErrMalformedSDP, err)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(sdpBody); err != nil {
		return nil, offers, fmt.Errorf("%w: %w", ErrMalformedSDP, err)
	}
	var audio []*sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 {
			audio = append(audio, m)
		}
	}
	if len(audio) != 2 {
		return nil, offers, fmt.Errorf("%w: a SIPREC offer with %d audio streams (botline records two)", ErrNoUsableCodec, len(audio))
	}
	rec := &Recording{SessionID: md.Session.ID}
	labelStream := map[string]string{} // label -> stream id
	for _, s := range md.Streams {
		labelStream[strings.TrimSpace(s.Label)] = s.ID
	}
	sender := map[string]string{} // stream id -> participant id
	for _, a := range md.Assocs {
		for _, s := range a.Send {
			sender[strings.TrimSpace(s)] = a.Participant
		}
	}
	for _, p := range md.Participants {
		for _, s := range p.Send {
			sender[strings.TrimSpace(s)] = p.ID
		}
	}
	for i, m := range audio {
		one := sd // this stream alone, so ParseOffer reads it as a call's
		one.MediaDescriptions = []*sdp.MediaDescription{m}
		b, err := one.Marshal()
		if err != nil {
			return nil, offers, fmt.Errorf("%w: %w", ErrMalformedSDP, err)
		}
		if offers[i], err = ParseOffer(b); err != nil {
			return nil, offers, err
		}
		if offers[i].secureProfile() || len(offers[i].Crypto) > 0 {
			return nil, offers, ErrSIPRECSRTP
		}
		offers[i].lines = nil // the answer is built for both streams below
		label, _ := m.Attribute("label")
		st := RecordedStream{Label: strings.TrimSpace(label)}
		for _, p := range md.Participants {
			if p.ID == sender[labelStream[st.Label]] {
				st.AOR, st.Name = strings.TrimSpace(p.NameID.AOR), strings.TrimSpace(p.NameID.Name)
				var u sip.Uri
				if sip.ParseUri(st.AOR, &u) == nil {
					st.Number = u.User
				}
			}
		}
		rec.Streams[i] = st
	}
	return rec, offers, nil
}

// recordingAnswer is the SDP answer to a SIPREC offer: both streams
// recvonly at ports, with their labels; version is the o= version.
func recordingAnswer(rec *Recording, offers [2]*Offer, ip netip.Addr, ports [2]int, sessionID, version uint64) ([]byte, error) {
	var mds []*sdp.MediaDescription
	for i, o := range offers {
		attrs := []sdp.Attribute{
			{Key: "rtpmap", Value: fmt.Sprintf("%d %s/8000", o.Codec.PayloadType, o.Codec.Name)},
			{Key: "ptime", Value: "20"}, {Key: "recvonly"},
		}
		if rec.Streams[i].Label != "" {
			attrs = append(attrs, sdp.Attribute{Key: "label", Value: rec.Streams[i].Label})
		}
		mds = append(mds, audioMedia(ports[i], []string{fmt.Sprint(o.Codec.PayloadType)}, attrs))
	}
	return sessionSDP(ip, sessionID, version, mds...)
}

// answerRecording answers a SIPREC INVITE: two recvonly streams, no
// ringing, and the handler told of the call as of any other, with
// c.SIPREC set.
func (s *Server) answerRecording(in *invite, rec *Recording, offers [2]*Offer, metadata []byte) {
	req, tx, log := in.req, in.tx, in.log
	socks, err := s.media.ListenPair()
	if err != nil {
		log.Error("recording session refused", "status", 503, "err", err)
		respond(tx, req, 503, "Service Unavailable", log)
		return
	}
	closeBoth := func() { socks[0].Close(); socks[1].Close() }
	ua := s.dialogUA(req)
	dlg, err := ua.ReadInvite(req, tx)
	if err != nil {
		closeBoth()
		log.Warn("recording session refused", "status", 400, "err", err)
		respond(tx, req, 400, "Bad Request", log)
		return
	}
	sessID := rand.Uint64() >> 1
	ports := [2]int{socks[0].Port(), socks[1].Port()}
	answer, err := recordingAnswer(rec, offers, s.media.IP(), ports, sessID, sessID)
	if err != nil {
		closeBoth()
		log.Error("recording session refused", "status", 500, "err", err)
		_ = dlg.Respond(500, "Server Internal Error", nil)
		return
	}
	from, to := req.From(), req.To()
	c := &Call{
		ID: req.CallID().Value(), FromURI: from.Address.String(), ToURI: to.Address.String(),
		Caller: cmp.Or(rec.Streams[0].Number, from.Address.User), Dialed: cmp.Or(rec.Streams[1].Number, to.Address.User),
		Called: req.Recipient.User, Transport: strings.ToUpper(req.Transport()), Codec: offers[0].Codec.Name, SIPREC: rec,
		srv: s, dialog: dlg, done: make(chan struct{}), ready: make(chan struct{}),
		sdpID: sessID, sdpVersion: sessID, lastOffer: offers[0], rtpPort: ports[0], contact: &ua.ContactHDR,
		recOffers: offers, recMetadata: metadata,
	}
	s.mu.Lock()
	s.calls[dlg.ID] = c
	in.registered = true
	s.mu.Unlock()
	c.Answered = time.Now()
	noAck := time.AfterFunc(s.cfg.AckTimeout, tx.Terminate)
	err = dlg.Respond(200, "OK", answer, sip.NewHeader("Content-Type", "application/sdp"))
	noAck.Stop()
	if err != nil {
		closeBoth()
		close(c.ready)
		s.forget(c)
		log.Warn("recording session not established", "err", err)
		return
	}
	s.setup.Observe(time.Since(in.received))
	log.Info("recording session answered", "from", c.FromURI, "left", rec.Streams[0].AOR, "right", rec.Streams[1].AOR,
		"codec", c.Codec, "rtpLocal", fmt.Sprintf("%v,%v", socks[0].LocalAddr(), socks[1].LocalAddr()))
	stream := func(sock media.Socket, o *Offer, timeout time.Duration) *media.Stream {
		return s.media.NewStream(media.StreamConfig{
			Socket: sock, Params: o.params(true), // recvonly: a recorder sends nothing
			SSRC: rand.Uint32(), Log: log, SignalIP: sourceIP(req),
			Timeout: timeout, OnTimeout: s.onRTPTimeout(c, log, "ending recording session: no RTP"),
		})
	}
	m1, m2 := stream(socks[0], offers[0], s.cfg.RTPTimeout), stream(socks[1], offers[1], 0) // the first stream's timeout ends it
	c.setMedia(m1)
	c.media2 = m2
	first, second := media.JoinPair(s.cfg.Handler.CallAnswered(c))
	m2.Start(second)
	m1.Start(first)
	s.up(c)
}

// reinviteRecording answers a re-INVITE of a SIPREC session (an SBC
// updating the metadata, or a stream's address on hold or transfer): the
// streams follow the new offer, the recording goes on, and the answer is
// the session's two recvonly streams again. The recording's participants
// stay those of the session's start. c.reinvite is held.
func (s *Server) reinviteRecording(c *Call, req *sip.Request, tx sip.ServerTransaction, log *slog.Logger) {
	offers := c.recOffers
	if body := req.Body(); len(body) > 0 {
		sdpBody, metadata := body, c.recMetadata
		if ct := req.ContentType(); mediaType(ct) == "multipart/mixed" {
			var md []byte
			var err error
			if sdpBody, md, err = siprecParts(ct.Value(), body); err != nil && !errors.Is(err, errNoMetadata) {
				log.Warn("recording session re-INVITE refused", "status", 400, "err", err)
				respond(tx, req, 400, "Bad Request", log)
				return
			}
			if md != nil {
				metadata = md
			}
		}
		_, o, err := parseRecording(sdpBody, metadata)
		if err != nil {
			code, reason := offerStatus(err)
			log.Warn("recording session re-INVITE refused", "status", code, "err", err)
			respond(tx, req, code, reason, log)
			return
		}
		offers = o
		c.recOffers, c.recMetadata, c.lastOffer = o, metadata, o[0]
		c.media.Update(o[0].params(true)) // recvonly stays: a recorder sends nothing
		c.media2.Update(o[1].params(true))
		log.Info("recording session re-INVITE", "left", o[0].Remote.String(), "right", o[1].Remote.String())
	}
	c.sdpVersion++
	answer, err := recordingAnswer(c.SIPREC, offers, s.media.IP(), [2]int{c.rtpPort, c.rtpPort + 2}, c.sdpID, c.sdpVersion)
	if err != nil {
		respond(tx, req, 500, "Server Internal Error", log)
		return
	}
	c.respondSDP(tx, req, answer, log)
}
