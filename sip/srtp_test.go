package sip_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/sip"
	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
	"github.com/zaf/g711"
)

// srtpOffer is an SDP offer of PCMU at port with one a=crypto line
// (AES_CM_128_HMAC_SHA1_80) keyed with key, under profile (RTP/SAVP or
// RTP/AVP); key nil = no crypto line.
func srtpOffer(port int, profile string, key []byte, version int) []byte {
	s := fmt.Sprintf("v=0\r\no=caller 1 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d %s 0\r\na=rtpmap:0 PCMU/8000\r\n",
		version, port, profile)
	if key != nil {
		s += "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(key) + "\r\n"
	}
	return []byte(s)
}

func newKey(t *testing.T) []byte {
	k := make([]byte, 30)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// answerKey is the gateway's a=crypto key in an answer.
func answerKey(t *testing.T, body []byte) []byte {
	t.Helper()
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:"); ok {
			k, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	}
	t.Fatalf("answer without our suite's a=crypto:\n%s", body)
	return nil
}

func srtpCtx(t *testing.T, key []byte) *srtp.Context {
	t.Helper()
	c, err := srtp.CreateContext(key[:16], key[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// An SRTP caller (RTP/SAVP, SDES): the answer is RTP/SAVP with our own
// key under the offer's tag; the caller's encrypted tone reaches the sink;
// what the gateway sends authenticates and decrypts with the answer's key;
// a re-INVITE with a new caller key keeps the audio flowing; forged
// packets are dropped and counted.
func TestSRTPCall(t *testing.T) {
	addr, h := startServer(t, 0, func(c *sip.Config) { c.SRTP = sip.SRTPRequired })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	port := conn.LocalAddr().(*net.UDPAddr).Port
	key := newKey(t)
	call, err := newPhone(t).DialSDP(ctx, addr, "a", "b", "application/sdp", srtpOffer(port, "RTP/SAVP", key, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := <-h.answered
	answer := call.Dialog.InviteResponse.Body()
	if !strings.Contains(string(answer), "RTP/SAVP 0") || c.SRTP != "AES_CM_128_HMAC_SHA1_80" {
		t.Fatalf("answer is not SRTP (call %q):\n%s", c.SRTP, answer)
	}
	ours := answerKey(t, answer)
	var gw *net.UDPAddr
	for _, line := range strings.Split(string(answer), "\r\n") {
		var p int
		if _, err := fmt.Sscanf(line, "m=audio %d", &p); err == nil {
			gw = &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p}
		}
	}

	// What the gateway sends decrypts with its key.
	dec := srtpCtx(t, ours)
	buf := make([]byte, 1500)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 10 {
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dec.DecryptRTP(nil, buf[:n], nil); err != nil {
			t.Fatalf("packet %d from the gateway does not authenticate with the answer's key: %v", i, err)
		}
	}

	// send paces packets on a 20 ms grid from t0, their timestamps
	// following the wall clock (as a phone's do across the re-INVITE).
	t0 := time.Now()
	send := func(enc *srtp.Context, seq *uint16, samples []int16, forge bool) {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 99}}
		for i := 0; i+160 <= len(samples); i += 160 {
			*seq++
			frame := time.Since(t0)/(20*time.Millisecond) + 1
			time.Sleep(time.Until(t0.Add(frame * 20 * time.Millisecond)))
			pkt.SequenceNumber, pkt.Timestamp = *seq, uint32(frame)*160
			pkt.Payload = g711.EncodeUlaw(pcmBytes(samples[i : i+160]))
			raw, _ := pkt.Marshal()
			out, err := enc.EncryptRTP(nil, raw, nil)
			if err != nil {
				t.Fatal(err)
			}
			if forge {
				out[len(out)-1] ^= 0xff // a wrong auth tag
			}
			conn.WriteToUDP(out, gw)
		}
	}
	var seq uint16
	tone := audio.Tone(1000, time.Second, 8000, 8000)
	send(srtpCtx(t, key), &seq, tone, false)

	// Re-key: a re-INVITE with a new caller key; audio goes on under it.
	key2 := newKey(t)
	res, err := call.Request(ctx, siplib.INVITE, "application/sdp", srtpOffer(port, "RTP/SAVP", key2, 2))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("re-INVITE with a new key: %v %v", res, err)
	}
	if got := answerKey(t, res.Body()); string(got) != string(ours) {
		t.Error("the gateway changed its own key on a re-INVITE")
	}
	send(srtpCtx(t, key2), &seq, tone, false)
	send(srtpCtx(t, key2), &seq, tone[:1600], true) // forged: dropped
	time.Sleep(150 * time.Millisecond)              // the playout delay
	h.mu.Lock()
	loud := countLoudFrames(h.audio)
	h.mu.Unlock()
	if loud < 90 || loud > 102 { // of 100: 50 under each key, and none of the 10 forged
		t.Errorf("%d loud frames reached the sink, want ~100 (50 under each key, no forged one)", loud)
	}
	if res, err := call.Request(ctx, siplib.INVITE, "application/sdp", srtpOffer(port, "RTP/AVP", nil, 3)); err != nil || res.StatusCode != 488 {
		t.Errorf("re-INVITE dropping SRTP: %v %v, want 488", res, err)
	}
	call.Hangup(ctx)
	<-h.ended
}

func pcmBytes(s []int16) []byte {
	b := make([]byte, 2*len(s))
	for i, v := range s {
		b[2*i], b[2*i+1] = byte(v), byte(v>>8)
	}
	return b
}

// --srtp required answers a plain offer with 488; --srtp off answers an
// RTP/SAVP offer with 488 and a plain one plainly; optional takes both.
func TestSRTPModes(t *testing.T) {
	for _, tc := range []struct {
		mode    sip.SRTPMode
		profile string
		crypto  bool
		want    int // 0 = answered; else the refusal
		secure  bool
	}{
		{sip.SRTPRequired, "RTP/AVP", false, 488, false},
		{sip.SRTPRequired, "RTP/AVP", true, 0, true}, // best-effort SDES
		{sip.SRTPOff, "RTP/SAVP", true, 488, false},
		{sip.SRTPOff, "RTP/AVP", true, 0, false}, // crypto ignored: plain
		{sip.SRTPOptional, "RTP/AVP", false, 0, false},
		{sip.SRTPOptional, "RTP/SAVP", true, 0, true},
		{sip.SRTPOptional, "RTP/SAVP", false, 488, false}, // SAVP without a key
	} {
		name := fmt.Sprintf("%d/%s/crypto=%v", tc.mode, tc.profile, tc.crypto)
		t.Run(name, func(t *testing.T) {
			addr, h := startServer(t, 0, func(c *sip.Config) { c.SRTP = tc.mode })
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var key []byte
			if tc.crypto {
				key = newKey(t)
			}
			call, err := newPhone(t).DialSDP(ctx, addr, "a", "b", "application/sdp", srtpOffer(40000, tc.profile, key, 1), nil)
			var refused *sipgo.ErrDialogResponse
			if tc.want != 0 {
				if !errors.As(err, &refused) || refused.Res.StatusCode != tc.want {
					t.Fatalf("got %v, want %d", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := <-h.answered
			body := string(call.Dialog.InviteResponse.Body())
			if secure := strings.Contains(body, "a=crypto:") && c.SRTP != ""; secure != tc.secure {
				t.Fatalf("answer secure=%v, want %v:\n%s", secure, tc.secure, body)
			}
			if !strings.Contains(body, tc.profile+" 0") {
				t.Fatalf("answer's profile is not the offer's %s:\n%s", tc.profile, body)
			}
			call.Hangup(ctx)
			<-h.ended
		})
	}
}
