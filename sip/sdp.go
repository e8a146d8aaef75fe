package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/botline/botline/media"
	"github.com/pion/sdp/v3"
)

// Errors of offer negotiation. ErrMalformedSDP answers 400,
// ErrNoUsableCodec answers 488.
var (
	ErrMalformedSDP  = errors.New("malformed SDP")
	ErrNoUsableCodec = errors.New("no usable audio codec (PCMU or PCMA) offered")
)

// Offer is what botline takes from an SDP offer.
type Offer struct {
	Remote  netip.AddrPort // where to send RTP
	Codec   media.Codec    // chosen codec
	DTMF    uint8          // telephone-event payload type, 0 if not offered
	Ptime   time.Duration  // the offerer's packet time, 0 if not given
	HasDTMF bool
	// Direction is the offer's (default SendRecv); SendOnly or Inactive
	// puts the call on hold.
	Direction Direction

	// Crypto are the chosen line's usable SDES keys (a=crypto), in the
	// offer's order of preference.
	Crypto []Crypto
	// local, once SRTP is agreed (negotiateSRTP), is our key, which the
	// answer carries; nil = plain RTP.
	local *Crypto

	// SSRC is the SSRC the offerer declared it sends with (RFC 5576
	// a=ssrc; the first one), 0 if none. With --rtp-mux it tells apart
	// calls that come from one address.
	SSRC uint32
	// localSSRC is ours, which the answer declares (0: not declared).
	localSSRC uint32

	// lines are the offer's m-lines in order, and chosen the one taken:
	// the answer has one m-line for each (RFC 3264 §6), the others
	// rejected with port 0.
	lines  []sdp.MediaName
	chosen int
}

// secureProfile reports whether the chosen m-line is RTP/SAVP or
// RTP/SAVPF: SRTP or nothing.
func (o *Offer) secureProfile() bool {
	if o.chosen >= len(o.lines) {
		return false
	}
	return slices.ContainsFunc(o.lines[o.chosen].Protos, func(p string) bool { return p == "SAVP" || p == "SAVPF" })
}

// params is what the call's media takes from the offer, with hold as
// given.
func (o *Offer) params(hold bool) media.Params {
	p := media.Params{Remote: o.Remote, RemoteSSRC: o.SSRC, Codec: o.Codec, Hold: hold}
	if o.HasDTMF {
		p.DTMF = o.DTMF
	}
	return p
}

// Hold reports whether the offer puts the call on hold: the offerer sends
// nothing to us to play (sendonly), nothing at all (inactive), or gave the
// RFC 2543 hold address 0.0.0.0.
func (o *Offer) Hold() bool {
	return o.Direction == SendOnly || o.Direction == Inactive || (o.Remote.IsValid() && o.Remote.Addr().IsUnspecified() && o.Remote.Addr().Is4())
}

// Direction is an SDP media direction attribute (RFC 4566 6, RFC 3264 5.1).
type Direction string

// Directions, as the attribute names them.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// answer is the direction an answer gives to an offer of d.
func (d Direction) answer() Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// direction is the direction attribute among attrs, def if none.
func direction(attrs []sdp.Attribute, def Direction) Direction {
	for _, a := range attrs {
		switch d := Direction(a.Key); d {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			return d
		}
	}
	return def
}

// ParseOffer parses an SDP offer and chooses the first G.711 codec of its
// first audio stream, and telephone-event when offered.
func ParseOffer(body []byte) (*Offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedSDP, err)
	}
	conn := sd.ConnectionInformation
	lines := make([]sdp.MediaName, len(sd.MediaDescriptions))
	for i, md := range sd.MediaDescriptions {
		lines[i] = md.MediaName
	}
	for i, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value == 0 || slices.Contains(md.MediaName.Protos, "TLS") {
			continue // not audio, rejected, or DTLS-SRTP (not spoken)
		}
		if md.ConnectionInformation != nil {
			conn = md.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return nil, fmt.Errorf("%w: no connection address", ErrMalformedSDP)
		}
		host := conn.Address.Address
		if i := strings.IndexByte(host, '/'); i >= 0 { // multicast TTL suffix
			host = host[:i]
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return nil, fmt.Errorf("%w: connection address %q: %w", ErrMalformedSDP, host, err)
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return nil, fmt.Errorf("%w: port %d", ErrMalformedSDP, port)
		}
		o := &Offer{Remote: netip.AddrPortFrom(ip, uint16(port)), Direction: direction(md.Attributes, direction(sd.Attributes, SendRecv)),
			lines: lines, chosen: i}
		names := rtpmaps(md)
		chosen := false
		for _, f := range md.MediaName.Formats {
			pt, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				return nil, fmt.Errorf("%w: payload type %q", ErrMalformedSDP, f)
			}
			name, ok := names[uint8(pt)]
			if !ok {
				switch pt {
				case 0:
					name = "pcmu/8000"
				case 8:
					name = "pcma/8000"
				}
			}
			switch {
			case !chosen && (name == "pcmu/8000" || name == "pcma/8000"):
				o.Codec = media.PCMU
				if name == "pcma/8000" {
					o.Codec = media.PCMA
				}
				o.Codec.PayloadType = uint8(pt)
				chosen = true
			case name == "telephone-event/8000" && !o.HasDTMF:
				o.DTMF, o.HasDTMF = uint8(pt), true
			}
		}
		if v, ok := md.Attribute("ptime"); ok {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 && n <= 200 {
				o.Ptime = time.Duration(n) * time.Millisecond
			}
		}
		if !chosen {
			return nil, ErrNoUsableCodec
		}
		for _, a := range md.Attributes {
			switch a.Key {
			case "crypto":
				if c, ok := parseCrypto(a.Value); ok {
					o.Crypto = append(o.Crypto, c)
				}
			case "ssrc":
				id, _, _ := strings.Cut(a.Value, " ")
				if v, err := strconv.ParseUint(id, 10, 32); err == nil && o.SSRC == 0 {
					o.SSRC = uint32(v)
				}
			}
		}
		return o, nil
	}
	return nil, ErrNoUsableCodec
}

// rtpmaps maps payload types to lower-case "encoding/clock" names.
func rtpmaps(md *sdp.MediaDescription) map[uint8]string {
	m := map[uint8]string{}
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptStr, rest, ok := strings.Cut(a.Value, " ")
		pt, err := strconv.ParseUint(ptStr, 10, 7)
		if !ok || err != nil {
			continue
		}
		enc := strings.ToLower(strings.TrimSpace(rest))
		if parts := strings.Split(enc, "/"); len(parts) > 2 { // drop channel count
			enc = parts[0] + "/" + parts[1]
		}
		m[uint8(pt)] = enc
	}
	return m
}

// Answer builds the SDP answer: one audio stream at ip:port with the chosen
// codec, telephone-event when offered, and a 20 ms ptime.
func Answer(o *Offer, ip netip.Addr, port int, sessionID uint64) ([]byte, error) {
	return answerVersion(o, ip, port, sessionID, sessionID)
}

// answerVersion is Answer with the o= session version given: a re-INVITE's
// answer increments it.
func answerVersion(o *Offer, ip netip.Addr, port int, sessionID, version uint64) ([]byte, error) {
	formats := []string{strconv.Itoa(int(o.Codec.PayloadType))}
	attrs := []sdp.Attribute{
		{Key: "rtpmap", Value: fmt.Sprintf("%d %s/8000", o.Codec.PayloadType, o.Codec.Name)},
	}
	if o.HasDTMF {
		formats = append(formats, strconv.Itoa(int(o.DTMF)))
		attrs = append(attrs,
			sdp.Attribute{Key: "rtpmap", Value: fmt.Sprintf("%d telephone-event/8000", o.DTMF)},
			sdp.Attribute{Key: "fmtp", Value: fmt.Sprintf("%d 0-16", o.DTMF)})
	}
	attrs = append(attrs, sdp.Attribute{Key: "ptime", Value: "20"}, sdp.Attribute{Key: string(o.Direction.answer())})
	if o.local != nil {
		attrs = append(attrs, sdp.Attribute{Key: "crypto", Value: o.local.String()})
	}
	if o.localSSRC != 0 {
		attrs = append(attrs, sdp.Attribute{Key: "ssrc", Value: fmt.Sprintf("%d cname:botline", o.localSSRC)})
	}
	ours := audioMedia(port, formats, attrs)
	if o.chosen < len(o.lines) { // the answer's profile is the offer's (RTP/AVP, RTP/SAVP, ...)
		ours.MediaName.Protos = slices.Clone(o.lines[o.chosen].Protos)
	}
	if len(o.lines) == 0 {
		return sessionSDP(ip, sessionID, version, ours)
	}
	mds := make([]*sdp.MediaDescription, len(o.lines))
	for i, l := range o.lines {
		if i == o.chosen {
			mds[i] = ours
			continue
		}
		rejected := l
		rejected.Port = sdp.RangedPort{Value: 0}
		if len(rejected.Formats) > 1 {
			rejected.Formats = rejected.Formats[:1]
		}
		mds[i] = &sdp.MediaDescription{MediaName: rejected}
	}
	return sessionSDP(ip, sessionID, version, mds...)
}

// audioMedia is an audio m-line at port.
func audioMedia(port int, formats []string, attrs []sdp.Attribute) *sdp.MediaDescription {
	return &sdp.MediaDescription{
		MediaName:  sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: port}, Protos: []string{"RTP", "AVP"}, Formats: formats},
		Attributes: attrs,
	}
}

// sessionSDP is a session description at ip with the given m-lines.
func sessionSDP(ip netip.Addr, sessionID, version uint64, mds ...*sdp.MediaDescription) ([]byte, error) {
	addrType := "IP4"
	if ip.Is6() && !ip.Is4In6() {
		addrType = "IP6"
	}
	sd := sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "botline", SessionID: sessionID, SessionVersion: version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: ip.String(),
		},
		SessionName:           "botline",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip.String()}},
		TimeDescriptions:      []sdp.TimeDescription{{}},
		MediaDescriptions:     mds,
	}
	return sd.Marshal()
}

// offerStatus is the response to an offer ParseOffer or negotiateSRTP
// refused: 488 when it has no G.711 or no acceptable security, else 400.
func offerStatus(err error) (int, string) {
	if errors.Is(err, ErrNoUsableCodec) || errors.Is(err, ErrSRTPRequired) || errors.Is(err, ErrSRTPOff) ||
		errors.Is(err, ErrNoCrypto) || errors.Is(err, ErrSRTPChange) || errors.Is(err, ErrSIPRECSRTP) {
		return 488, "Not Acceptable Here"
	}
	return 400, "Bad Request"
}
