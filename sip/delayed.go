package sip

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/botline/botline/media"
	"github.com/pion/sdp/v3"
)

// This file is the delayed offer (RFC 3261 13.2.1, RFC 6337 2.1): an
// INVITE without SDP is answered with our offer in the 200 OK, and the
// caller's answer comes in the ACK.

// Payload types of our offer.
const (
	offerPCMU, offerPCMA, offerDTMF = 0, 8, 101
)

// ErrBadAnswer is an ACK whose SDP answer botline cannot use (none, not
// parsable, or outside what it offered): the call is ended with BYE.
var ErrBadAnswer = errors.New("unusable SDP answer in the ACK")

// ourOffer is the SDP offer of a delayed-offer 200 OK: PCMU, PCMA and
// telephone-event at ip:port; under SRTPRequired RTP/SAVP with our key
// (which it returns), else plain RTP/AVP.
func ourOffer(ip netip.Addr, port int, sessionID uint64, mode SRTPMode) ([]byte, *Crypto, error) {
	attrs := []sdp.Attribute{
		{Key: "rtpmap", Value: fmt.Sprintf("%d PCMU/8000", offerPCMU)},
		{Key: "rtpmap", Value: fmt.Sprintf("%d PCMA/8000", offerPCMA)},
		{Key: "rtpmap", Value: fmt.Sprintf("%d telephone-event/8000", offerDTMF)},
		{Key: "fmtp", Value: fmt.Sprintf("%d 0-16", offerDTMF)},
		{Key: "ptime", Value: "20"},
		{Key: "sendrecv"},
	}
	md := audioMedia(port, []string{"0", "8", "101"}, attrs)
	var local *Crypto
	if mode == SRTPRequired {
		var err error
		if local, err = newLocalCrypto(Crypto{Tag: 1, Suite: "AES_CM_128_HMAC_SHA1_80"}); err != nil {
			return nil, nil, err
		}
		md.MediaName.Protos = []string{"RTP", "SAVP"}
		md.Attributes = append(md.Attributes, sdp.Attribute{Key: "crypto", Value: local.String()})
	}
	b, err := sessionSDP(ip, sessionID, sessionID, md)
	return b, local, err
}

// parseAnswer takes the caller's answer to ourOffer (local is the key it
// carried, nil if plain): a codec we offered, telephone-event only under
// our payload type, and under SRTP the caller's key for our tag and suite.
func parseAnswer(body []byte, local *Crypto) (*Offer, *media.SRTP, error) {
	if len(body) == 0 {
		return nil, nil, fmt.Errorf("%w: the ACK has no SDP", ErrBadAnswer)
	}
	a, err := ParseOffer(body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrBadAnswer, err)
	}
	if pt := a.Codec.PayloadType; pt != offerPCMU && pt != offerPCMA {
		return nil, nil, fmt.Errorf("%w: payload type %d was not offered", ErrBadAnswer, pt)
	}
	if a.HasDTMF && a.DTMF != offerDTMF {
		a.HasDTMF, a.DTMF = false, 0
	}
	if local == nil {
		if a.secureProfile() {
			return nil, nil, fmt.Errorf("%w: SRTP answered to a plain offer", ErrBadAnswer)
		}
		a.Crypto = nil
		return a, nil, nil
	}
	for _, c := range a.Crypto {
		if c.Tag == local.Tag && c.Suite == local.Suite {
			keys, err := newSRTP(c, local)
			if err != nil {
				return nil, nil, err
			}
			a.Crypto, a.local = []Crypto{c}, local
			return a, keys, nil
		}
	}
	return nil, nil, fmt.Errorf("%w: no a=crypto for our tag %d %s", ErrBadAnswer, local.Tag, local.Suite)
}

// setAckSDP keeps the body of the ACK of a delayed-offer call's 200 OK,
// for onInvite to read once sipgo reports the ACK.
func (c *Call) setAckSDP(body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.delayed && c.ackSDP == nil {
		c.ackSDP = append([]byte{}, body...)
	}
}

func (c *Call) takeAckSDP() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ackSDP
}
