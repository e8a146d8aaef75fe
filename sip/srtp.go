package sip

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/botline/botline/media"
)

// This file keys SRTP (RFC 3711) with SDES (RFC 4568): the a=crypto lines
// of the offer and the answer each carry one side's master key, in the
// clear inside the (TLS-protected) SIP signalling.

// SRTPMode says when calls' media is encrypted.
type SRTPMode int

// SRTP modes.
const (
	// SRTPOff answers plain RTP only; an offer of RTP/SAVP gets 488.
	SRTPOff SRTPMode = iota
	// SRTPOptional encrypts when the offer carries a usable a=crypto
	// (RTP/SAVP, or RTP/AVP with crypto: "best effort" SDES), else plain.
	SRTPOptional
	// SRTPRequired answers only offers with a usable a=crypto; a plain
	// offer gets 488.
	SRTPRequired
)

// ParseSRTPMode reads off, optional or required.
func ParseSRTPMode(s string) (SRTPMode, error) {
	switch s {
	case "off":
		return SRTPOff, nil
	case "optional":
		return SRTPOptional, nil
	case "required":
		return SRTPRequired, nil
	}
	return SRTPOff, fmt.Errorf("--srtp %q: want off, optional or required", s)
}

// Errors of SRTP negotiation; each answers 488.
var (
	ErrSRTPRequired = errors.New("plain RTP offered, and SRTP is required")
	ErrSRTPOff      = errors.New("only SRTP offered, and SRTP is off")
	ErrNoCrypto     = errors.New("no supported a=crypto suite offered")
)

// Crypto is one SDES a=crypto attribute: a tag, a suite, and the master
// key followed by the master salt.
type Crypto struct {
	Tag   int
	Suite string
	Key   []byte
}

// parseCrypto reads "1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|lifetime]";
// ok is false for a line botline cannot use (unknown suite, MKI, several
// keys, a key of the wrong length).
func parseCrypto(v string) (Crypto, bool) {
	f := strings.Fields(v)
	if len(f) < 3 {
		return Crypto{}, false
	}
	tag, err := strconv.Atoi(f[0])
	n, known := media.SRTPKeyLen(f[1])
	if err != nil || tag < 0 || tag > 999999999 || !known {
		return Crypto{}, false
	}
	params, ok := strings.CutPrefix(f[2], "inline:")
	if !ok || strings.Contains(params, ";") { // several keys
		return Crypto{}, false
	}
	parts := strings.Split(params, "|")
	if len(parts) > 2 || len(parts) == 2 && strings.Contains(parts[1], ":") { // an MKI
		return Crypto{}, false
	}
	key, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(parts[0])
	}
	if err != nil || len(key) != n {
		return Crypto{}, false
	}
	return Crypto{Tag: tag, Suite: f[1], Key: key}, true
}

// String is the attribute's value.
func (c Crypto) String() string {
	return fmt.Sprintf("%d %s inline:%s", c.Tag, c.Suite, base64.StdEncoding.EncodeToString(c.Key))
}

// newLocalCrypto makes our side's key for the suite the offer's line
// chose, under the same tag (RFC 4568 section 5.1.2).
func newLocalCrypto(remote Crypto) (*Crypto, error) {
	n, _ := media.SRTPKeyLen(remote.Suite)
	key := make([]byte, n)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("srtp key: %w", err)
	}
	return &Crypto{Tag: remote.Tag, Suite: remote.Suite, Key: key}, nil
}

// negotiateSRTP applies mode to an offer: on nil error, o.local is our
// answer's key when the call is encrypted, nil when it is plain.
func negotiateSRTP(o *Offer, mode SRTPMode) error {
	secure := o.secureProfile()
	switch {
	case mode == SRTPOff && secure:
		return ErrSRTPOff
	case mode == SRTPOff:
		return nil
	case len(o.Crypto) == 0 && secure:
		return ErrNoCrypto
	case len(o.Crypto) == 0 && mode == SRTPRequired:
		return ErrSRTPRequired
	case len(o.Crypto) == 0:
		return nil
	}
	local, err := newLocalCrypto(o.Crypto[0])
	if err != nil {
		return err
	}
	o.local = local
	return nil
}

// newSRTP keys a call's media from the offer's chosen crypto and ours.
func newSRTP(remote Crypto, local *Crypto) (*media.SRTP, error) {
	return media.NewSRTP(remote.Suite, remote.Key, local.Key)
}

// srtpSuite is the suite an offer's call is encrypted with, "" if plain.
func srtpSuite(o *Offer) string {
	if o.local == nil {
		return ""
	}
	return o.local.Suite
}

// ErrSRTPChange refuses a re-INVITE that would turn a call's encryption
// on or off, or change its suite.
var ErrSRTPChange = errors.New("the re-offer changes the call's media security")

// renegotiateSRTP applies a re-INVITE's offer o to a call whose last offer
// was prev: an encrypted call stays encrypted with the same suite and our
// same key; a plain call stays plain. It reports whether the caller sent a
// new key (the media must be rekeyed with o.Crypto[0]).
func renegotiateSRTP(o, prev *Offer) (rekey bool, err error) {
	if prev.local == nil {
		if o.secureProfile() {
			return false, ErrSRTPChange
		}
		o.Crypto = nil
		return false, nil
	}
	i := slices.IndexFunc(o.Crypto, func(c Crypto) bool { return c.Suite == prev.local.Suite })
	if i < 0 {
		return false, ErrSRTPChange
	}
	o.Crypto[0], o.Crypto[i] = o.Crypto[i], o.Crypto[0]
	o.local = &Crypto{Tag: o.Crypto[0].Tag, Suite: prev.local.Suite, Key: prev.local.Key}
	return !bytes.Equal(o.Crypto[0].Key, prev.Crypto[0].Key), nil
}
