package sip_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/botline/botline/sip"
	"github.com/botline/botline/sip/siptest"
	"github.com/emiago/sipgo"
	siplib "github.com/emiago/sipgo/sip"
)

// target is a SIP UAS a bridged transfer calls: it rings until the test
// lets it answer, and reports the requests that end its side.
type target struct {
	addr    string
	invites chan struct{}
	answer  chan struct{} // close: answer the INVITEs (200 OK with SDP)
	ended   chan string   // "CANCEL" or "BYE", once per call
}

func startTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), invites: make(chan struct{}, 4),
		answer: make(chan struct{}), ended: make(chan string, 4)}
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	srv.OnInvite(func(req *siplib.Request, tx siplib.ServerTransaction) {
		tg.invites <- struct{}{}
		ringing := siplib.NewResponseFromRequest(req, 180, "Ringing", nil)
		ringing.To().Params.Add("tag", "target")
		tx.Respond(ringing)
		canceled := make(chan struct{})
		tx.OnCancel(func(*siplib.Request) { close(canceled) })
		select {
		case <-canceled: // sipgo answers the CANCEL and the INVITE (487)
			tg.ended <- "CANCEL"
			return
		case <-tg.answer:
		}
		ok := siplib.NewResponseFromRequest(req, 200, "OK", siptest.Offer("127.0.0.1", 7300, 0))
		ok.To().Params.Add("tag", "target")
		ok.AppendHeader(siplib.NewHeader("Content-Type", "application/sdp"))
		ok.AppendHeader(&siplib.ContactHeader{Address: siplib.Uri{User: "target", Host: "127.0.0.1", Port: portOf(tg.addr)}})
		tx.Respond(ok)
	})
	srv.OnAck(func(*siplib.Request, siplib.ServerTransaction) {})
	srv.OnOptions(func(req *siplib.Request, tx siplib.ServerTransaction) {
		tx.Respond(siplib.NewResponseFromRequest(req, 200, "OK", nil))
	})
	srv.OnBye(func(req *siplib.Request, tx siplib.ServerTransaction) {
		tx.Respond(siplib.NewResponseFromRequest(req, 200, "OK", nil))
		tg.ended <- "BYE"
	})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go srv.ListenAndServe(ctx, "udp", tg.addr)
	waitSIP(t, tg.addr)
	return tg
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	var n int
	fmt.Sscan(p, &n)
	return n
}

// portsFree waits until every even port of [lo, hi] can be bound again.
func portsFree(t *testing.T, lo, hi int) {
	t.Helper()
	for port := lo; port <= hi; port += 2 {
		deadline := time.Now().Add(5 * time.Second)
		for {
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("RTP port %d still held after the call and its transfer ended", port)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// A bridged transfer lives only as long as its call. A caller hanging up
// while the target rings cancels the target's call and fails the
// transfer; a caller hanging up once bridged ends the target's call with
// BYE. Either way every RTP port is free afterwards, and a second transfer
// of the call while one is in progress is refused without calling anyone.
func TestTransferEndsWithTheCall(t *testing.T) {
	for _, answered := range []bool{false, true} {
		t.Run(map[bool]string{false: "ringing", true: "bridged"}[answered], func(t *testing.T) {
			tg := startTarget(t)
			base := 20000 + freePort(t)%50*200
			addr, h := startServer(t, 0, func(c *sip.Config) {
				c.OutboundProxy = tg.addr
				c.TransferAllow = []string{"+1800*"}
				c.Media = newEngine(t, base, base+9)
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			call, err := newPhone(t).Dial(ctx, addr, "a", "b", nil) // refuses REFER (405)
			if err != nil {
				t.Fatal(err)
			}
			c := <-h.answered
			first := make(chan error, 1)
			go func() { first <- c.Transfer(ctx, "+18005550100") }()
			<-tg.invites // the target rings
			if err := c.Transfer(ctx, "+18005550100"); err == nil {
				t.Error("a second transfer of the call was started")
			}
			want := "CANCEL"
			if answered {
				want = "BYE"
				close(tg.answer)
				if err := <-first; err != nil {
					t.Fatalf("bridged transfer: %v", err)
				}
			}
			call.Hangup(ctx)
			select {
			case how := <-tg.ended:
				if how != want {
					t.Errorf("the target's side ended by %s, want %s", how, want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the target's call was left up after the caller hung up")
			}
			if !answered {
				if err := <-first; err == nil {
					t.Error("a transfer whose caller hung up while the target rang counted as done")
				}
			}
			if len(tg.invites) != 0 {
				t.Error("the target was called twice")
			}
			<-h.ended
			portsFree(t, base, base+9)
		})
	}
}
