package media

import (
	"fmt"

	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// This file holds a stream's SRTP (RFC 3711) contexts. Keying (SDES
// a=crypto lines in SDP) is signalling's: it hands NewSRTP the suite and
// both sides' master keys.

// srtpSuites are the SDES suites botline takes, by their SDP names.
var srtpSuites = map[string]srtp.ProtectionProfile{
	"AES_CM_128_HMAC_SHA1_80": srtp.ProtectionProfileAes128CmHmacSha1_80,
	"AES_CM_128_HMAC_SHA1_32": srtp.ProtectionProfileAes128CmHmacSha1_32,
	"AEAD_AES_128_GCM":        srtp.ProtectionProfileAeadAes128Gcm,
	"AEAD_AES_256_GCM":        srtp.ProtectionProfileAeadAes256Gcm,
}

// SRTPKeyLen is the length of a suite's master key followed by its master
// salt; ok is false for a suite botline does not take.
func SRTPKeyLen(suite string) (n int, ok bool) {
	p, ok := srtpSuites[suite]
	if !ok {
		return 0, false
	}
	k, _ := p.KeyLen()
	salt, _ := p.SaltLen()
	return k + salt, true
}

// SRTP is one stream's pair of SRTP contexts: in decrypts what the far end
// sends (its key), out encrypts what the gateway sends (ours).
type SRTP struct {
	in, out *srtp.Context
	hdr     rtp.Header // scratch for the header pion parses
}

// NewSRTP keys a stream: suite is the SDES suite's name, each key its
// master key followed by its master salt.
func NewSRTP(suite string, remoteKey, localKey []byte) (*SRTP, error) {
	in, err := srtpContext(suite, remoteKey)
	if err != nil {
		return nil, err
	}
	out, err := srtpContext(suite, localKey)
	if err != nil {
		return nil, err
	}
	return &SRTP{in: in, out: out}, nil
}

func srtpContext(suite string, key []byte) (*srtp.Context, error) {
	p, ok := srtpSuites[suite]
	if n, _ := SRTPKeyLen(suite); !ok || len(key) != n {
		return nil, fmt.Errorf("srtp %s: not a supported suite and key", suite)
	}
	k, _ := p.KeyLen()
	ctx, err := srtp.CreateContext(key[:k], key[k:], p, srtp.SRTPReplayProtection(128))
	if err != nil {
		return nil, fmt.Errorf("srtp %s: %w", suite, err)
	}
	return ctx, nil
}

// decrypt authenticates and decrypts a packet in place, returning the
// plain RTP.
func (s *SRTP) decrypt(b []byte) ([]byte, error) {
	return s.in.DecryptRTP(b, b, &s.hdr)
}

// encrypt encrypts the plain packet b[:n] in place; b must have room for
// the auth tag (srtpOverhead bytes past n).
func (s *SRTP) encrypt(b []byte, n int) ([]byte, error) {
	return s.out.EncryptRTP(b[:n], b[:n], &s.hdr)
}

// srtpOverhead is the most an SRTP packet adds to RTP: a 16-byte tag (GCM).
const srtpOverhead = 16

// Rekey takes the far end's new master key (a re-offer's a=crypto) in the
// stream's suite.
func (m *Stream) Rekey(suite string, remoteKey []byte) error {
	ctx, err := srtpContext(suite, remoteKey)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.srtp != nil {
		m.srtp.in = ctx
	}
	return nil
}
