package sip_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// answerTo answers an SDP offer from 127.0.0.1:port with payload type pt.
func answerTo(port int, pt string) func([]byte) []byte {
	return func([]byte) []byte {
		return []byte(fmt.Sprintf("v=0\r\no=caller 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n", port, pt))
	}
}

// An INVITE without SDP (delayed offer, RFC 3261 13.2.1) gets our offer in
// the 200 OK (PCMU, PCMA, telephone-event); the answer in the ACK picks
// the codec and the call's audio flows. An ACK with no answer, or one
// outside our offer, ends the call with BYE before any conversation.
func TestDelayedOffer(t *testing.T) {
	addr, h := startServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p := newPhone(t)
	rtpPort := 7000 + freePort(t)%1000*2
	var offer string
	p.AckAnswer = func(o []byte) []byte { offer = string(o); return answerTo(rtpPort, "8")(o) }
	call, err := p.DialSDP(ctx, addr, "+14255550123", "+18005550199", "", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := <-h.answered
	if !strings.Contains(offer, "RTP/AVP 0 8 101") || !strings.Contains(offer, "a=rtpmap:101 telephone-event/8000") {
		t.Fatalf("our offer in the 200 OK:\n%s", offer)
	}
	if c.Codec != "PCMA" {
		t.Fatalf("codec %q, want PCMA (the answer's)", c.Codec)
	}
	call.Hangup(ctx)
	<-h.ended

	for name, answer := range map[string]func([]byte) []byte{
		"no answer":         func([]byte) []byte { return nil },
		"codec not offered": answerTo(rtpPort, "18"),
		"garbage":           func([]byte) []byte { return []byte("garbage") },
	} {
		p := newPhone(t)
		p.AckAnswer = answer
		call, err := p.DialSDP(ctx, addr, "a", "b", "", nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		select {
		case <-call.Ended(): // the gateway's BYE
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the call was not ended", name)
		}
	}
	if len(h.answered) != 0 {
		t.Fatal("a delayed offer without a usable answer reached the handler")
	}
}

// A re-INVITE without SDP gets our SDP as an offer; the ACK's answer is
// applied (here: the caller moves its RTP to a new port).
func TestReinviteWithoutSDPTakesAckAnswer(t *testing.T) {
	addr, h := startServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := <-h.answered
	moved, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer moved.Close()
	res, err := call.RequestAck(ctx, answerTo(moved.LocalAddr().(*net.UDPAddr).Port, "0"))
	if err != nil || res.StatusCode != 200 || !strings.Contains(string(res.Body()), "m=audio") {
		t.Fatalf("SDP-less re-INVITE: %v %v, want 200 with our offer", res, err)
	}
	moved.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := moved.Read(make([]byte, 1500)); err != nil {
		t.Fatalf("the gateway did not send to the address the ACK's answer gave: %v", err)
	}
	if c.Codec != "PCMU" {
		t.Errorf("codec %q after the re-offer, want PCMU", c.Codec)
	}
	call.Hangup(ctx)
	<-h.ended
}
