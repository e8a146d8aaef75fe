package sip_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/sip/siptest"
	siplib "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
)

func awaitKey(t *testing.T, keys <-chan byte, want byte) {
	t.Helper()
	select {
	case k := <-keys:
		if k != want {
			t.Fatalf("key %q, want %q", k, want)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("no key %q", want)
	}
}

// placeCall starts a server and places one call to it from a Go caller.
func placeCall(t *testing.T) (context.Context, *handler, *siptest.Call) {
	t.Helper()
	addr, h := startServer(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	call, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, h, call
}

// Keys arrive by SIP INFO and by RFC 4733; keys sent to the caller arrive
// as RFC 4733 events.
func TestKeysBothWays(t *testing.T) {
	ctx, h, call := placeCall(t)
	c := <-h.answered
	res, err := call.Request(ctx, siplib.INFO, "application/dtmf-relay", []byte("Signal=7\r\nDuration=160\r\n"))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("INFO: %v %v", res, err)
	}
	awaitKey(t, h.keys, '7')
	if res, _ := call.Request(ctx, siplib.INFO, "application/dtmf-relay", []byte("Signal=Q")); res == nil || res.StatusCode != 400 {
		t.Fatalf("INFO with a bad key answered %v, want 400", res)
	}
	if !call.QueueDTMF("3") {
		t.Fatal("gateway did not accept telephone-event")
	}
	if err := call.SendAudio(ctx, make([]int16, 8000/2)); err != nil {
		t.Fatal(err)
	}
	awaitKey(t, h.keys, '3')
	if err := c.SendDTMF("12#"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for call.Keys() != "12#" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if call.Keys() != "12#" {
		t.Fatalf("caller got keys %q, want 12#", call.Keys())
	}
	if err := c.SendDTMF("5x"); err == nil {
		t.Error("SendDTMF accepted x")
	}
	call.Hangup(ctx)
}

// A re-INVITE puts the call on hold (the gateway stops sending), takes it
// off hold, changes the codec; one without SDP and an UPDATE refresh the
// session; each is answered 200 with the matching SDP.
func TestReinvite(t *testing.T) {
	ctx, h, call := placeCall(t)
	<-h.answered
	port := call.RTP.LocalAddr().(*net.UDPAddr).Port
	offer := func(dir string, pts ...uint8) []byte {
		return []byte(strings.TrimRight(string(siptest.Offer("127.0.0.1", port, pts...)), "\r\n") + "\r\na=" + dir + "\r\n")
	}
	reinvite := func(body []byte, want ...string) {
		t.Helper()
		res, err := call.Request(ctx, siplib.INVITE, "application/sdp", body)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("re-INVITE: %v %v", res, err)
		}
		for _, w := range want {
			if !strings.Contains(string(res.Body()), w) {
				t.Fatalf("answer lacks %q:\n%s", w, res.Body())
			}
		}
	}
	// waitPackets waits until the caller has received n more packets.
	waitPackets := func(n int) {
		t.Helper()
		start := call.ReceivedPackets()
		deadline := time.Now().Add(3 * time.Second)
		for call.ReceivedPackets() < start+n {
			if time.Now().After(deadline) {
				t.Fatalf("gateway sent %d packets in 3 s, want %d", call.ReceivedPackets()-start, n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitPackets(5)
	reinvite(offer("sendonly", 0, 101), "a=recvonly")
	time.Sleep(100 * time.Millisecond) // packets already in flight
	held := call.ReceivedPackets()
	time.Sleep(400 * time.Millisecond) // 20 packets' worth of time on hold
	if n := call.ReceivedPackets() - held; n > 0 {
		t.Fatalf("gateway sent %d packets while on hold", n)
	}
	reinvite(offer("sendrecv", 0, 101), "a=sendrecv")
	waitPackets(5)
	reinvite(offer("sendrecv", 8, 101), "PCMA/8000")
	reinvite(nil, "PCMA/8000") // session refresh: the current answer again
	if res, err := call.Request(ctx, siplib.UPDATE, "", nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("UPDATE: %v %v", res, err)
	}
	if res, _ := call.Request(ctx, siplib.INVITE, "application/sdp", offer("sendrecv", 18)); res == nil || res.StatusCode != 488 {
		t.Fatalf("re-INVITE without G.711 answered %v, want 488", res)
	}
	call.Hangup(ctx)
}

// sprayKey sends key 0 as RFC 4733 events (payload type 101) from conn to
// the gateway's RTP address, as a stranger spraying the port range would.
func sprayKey(t *testing.T, conn *net.UDPConn, to *net.UDPAddr) {
	t.Helper()
	for i := range 6 {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: uint16(100 + i), Timestamp: 4000, SSRC: 0xbad},
			Payload: []byte{0, 10, 0, 160}}
		if i >= 3 {
			p.Payload[1] |= 0x80 // end of event
		}
		b, _ := p.Marshal()
		if _, err := conn.WriteToUDP(b, to); err != nil {
			t.Fatal(err)
		}
	}
}

// RTP from anyone but the caller is dropped: keys sprayed from another host
// before the caller sends anything, and from the caller's own IP on another
// port after, never reach the handler, while the caller's keys do.
func TestStrangerRTPDropped(t *testing.T) {
	ctx, h, call := placeCall(t)
	<-h.answered
	gatewayRTP := net.UDPAddrFromAddrPort(call.Remote)
	otherHost, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer otherHost.Close()
	sprayKey(t, otherHost, gatewayRTP) // first, before the caller's RTP
	call.QueueDTMF("3")
	if err := call.SendAudio(ctx, make([]int16, 8000/2)); err != nil {
		t.Fatal(err)
	}
	awaitKey(t, h.keys, '3')
	sameHost, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sameHost.Close()
	sprayKey(t, sameHost, gatewayRTP) // the caller's IP, another port
	sprayKey(t, otherHost, gatewayRTP)
	call.QueueDTMF("4")
	if err := call.SendAudio(ctx, make([]int16, 8000/2)); err != nil {
		t.Fatal(err)
	}
	awaitKey(t, h.keys, '4')
	call.Hangup(ctx)
}
