package sip_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/sip"
	"github.com/emiago/sipgo"
	"github.com/icholy/digest"
)

// A source outside --sip-allow gets 403 for every method (or nothing at
// all when silent) and never reaches the handler; an allowed one calls.
func TestAllowList(t *testing.T) {
	elsewhere := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	for _, silent := range []bool{false, true} {
		t.Run(map[bool]string{false: "403", true: "silent"}[silent], func(t *testing.T) {
			addr, h := startServer(t, 0, func(c *sip.Config) { c.Allow, c.AllowSilent = elsewhere, silent })
			want := "SIP/2.0 403 Forbidden"
			wait := 2 * time.Second
			if silent {
				want, wait = "", 600*time.Millisecond // UDP: nothing comes back
			}
			for _, method := range []string{"INVITE", "OPTIONS", "REGISTER", "MESSAGE", "BYE"} {
				if got := rawRequest(t, addr, method, "", wait); got != want {
					t.Errorf("%s from a source not allowed: got %q, want %q", method, got, want)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := newPhone(t).Dial(ctx, addr, "a", "b", nil); err == nil {
				t.Fatal("a call from a source not allowed was answered")
			}
			if len(h.answered) != 0 {
				t.Fatal("the handler was told of a call from a source not allowed")
			}
		})
	}
	t.Run("allowed", func(t *testing.T) {
		addr, h := startServer(t, 0, func(c *sip.Config) {
			c.Allow = append(elsewhere, netip.MustParsePrefix("127.0.0.0/8"))
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		call, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
		if err != nil {
			t.Fatal(err)
		}
		<-h.answered
		call.Hangup(ctx)
		<-h.ended
	})
}

// Past MaxCalls an INVITE gets 503 with Retry-After; a call that ended
// frees its place.
func TestMaxCalls(t *testing.T) {
	addr, h := startServer(t, 0, func(c *sip.Config) { c.MaxCalls = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	first, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-h.answered
	_, err = newPhone(t).Dial(ctx, addr, "a", "b", nil)
	var refused *sipgo.ErrDialogResponse
	if !errors.As(err, &refused) || refused.Res.StatusCode != 503 {
		t.Fatalf("second call over a limit of 1: %v, want 503", err)
	}
	if h := refused.Res.GetHeader("Retry-After"); h == nil || h.Value() == "" {
		t.Error("503 without Retry-After")
	}
	first.Hangup(ctx)
	<-h.ended
	third, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatalf("a call after the first ended: %v", err)
	}
	<-h.answered
	third.Hangup(ctx)
	<-h.ended
}

// One source sending INVITEs faster than InviteRate gets 503 once its
// burst is spent.
func TestInviteRateLimit(t *testing.T) {
	addr, _ := startServer(t, 0, func(c *sip.Config) { c.InviteRate = 1 }) // burst 2
	var got []string
	for range 3 {
		got = append(got, rawRequest(t, addr, "INVITE", "", 2*time.Second)) // no Contact: 400 when let through
	}
	if !strings.HasPrefix(got[0], "SIP/2.0 400") || !strings.HasPrefix(got[1], "SIP/2.0 400") || !strings.HasPrefix(got[2], "SIP/2.0 503") {
		t.Fatalf("three INVITEs at once with a rate of 1/s (burst 2): %q", got)
	}
}

// Digest authentication: no credentials gets a challenge (SHA-256 offered
// first when configured so), a wrong password 403, the right one a call; a nonce that let an
// INVITE in is refused when replayed (401 stale), and a forged one gets a
// fresh challenge.
func TestDigestAuth(t *testing.T) {
	addr, h := startServer(t, 0, func(c *sip.Config) {
		c.Auth = sip.NewDigestAuth("botline", map[string]string{"alice": "s3cret"})
		if err := c.Auth.SetAlgorithms([]string{"SHA-256", "MD5"}); err != nil {
			t.Fatal(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var refused *sipgo.ErrDialogResponse
	if _, err := newPhone(t).Dial(ctx, addr, "a", "b", nil); !errors.As(err, &refused) || refused.Res.StatusCode != 401 {
		t.Fatalf("call without credentials: %v, want 401", err)
	}
	wrong := newPhone(t)
	wrong.User, wrong.Password = "alice", "guess"
	if _, err := wrong.Dial(ctx, addr, "a", "b", nil); !errors.As(err, &refused) || refused.Res.StatusCode != 403 {
		t.Fatalf("call with a wrong password: %v, want 403", err)
	}
	right := newPhone(t)
	right.User, right.Password = "alice", "s3cret"
	call, err := right.Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatalf("call with the right password: %v", err)
	}
	<-h.answered
	call.Hangup(ctx)
	<-h.ended
	if len(h.answered) != 0 {
		t.Fatal("a refused INVITE reached the handler")
	}

	// By hand: take a challenge, answer it once (no SDP: 488 means
	// authenticated), then replay the same Authorization.
	challenges := func() []*digest.Challenge {
		var chals []*digest.Challenge
		for _, line := range strings.Split(rawResponse(t, addr, "INVITE", "", 2*time.Second), "\r\n") {
			if v, ok := strings.CutPrefix(line, "WWW-Authenticate: "); ok {
				c, err := digest.ParseChallenge(v)
				if err != nil {
					t.Fatal(err)
				}
				chals = append(chals, c)
			}
		}
		if len(chals) != 2 || chals[0].Algorithm != "SHA-256" || chals[1].Algorithm != "MD5" {
			t.Fatalf("challenges: %+v, want SHA-256 then MD5", chals)
		}
		return chals
	}
	for i := range 2 {
		chal := challenges()[i]
		cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:svc@" + addr, Username: "alice", Password: "s3cret"})
		if err != nil {
			t.Fatal(err)
		}
		authz := "CSeq: 2 INVITE\r\nAuthorization: " + cred.String() + "\r\n"
		if got := rawRequest(t, addr, "INVITE", authz, 2*time.Second); !strings.HasPrefix(got, "SIP/2.0 400") {
			t.Fatalf("%s credentials: %q, want them taken (then 400: no Contact)", chal.Algorithm, got)
		}
		replay := rawResponse(t, addr, "INVITE", authz, 2*time.Second)
		if !strings.HasPrefix(replay, "SIP/2.0 401") || !strings.Contains(replay, "stale=true") {
			t.Fatalf("replayed %s nonce: %q, want 401 stale", chal.Algorithm, replay)
		}
	}
	forged := *challenges()[1]
	forged.Nonce = "AAAA" + forged.Nonce[4:]
	cred, _ := digest.Digest(&forged, digest.Options{Method: "INVITE", URI: "sip:svc@" + addr, Username: "alice", Password: "s3cret"})
	res := rawResponse(t, addr, "INVITE", "CSeq: 2 INVITE\r\nAuthorization: "+cred.String()+"\r\n", 2*time.Second)
	if !strings.HasPrefix(res, "SIP/2.0 401") || strings.Contains(res, "stale=true") {
		t.Fatalf("forged nonce: %q, want a fresh 401", res)
	}
}

// A transfer to a target outside TransferAllow fails before anything is
// sent: no REFER to the caller, no INVITE to the target.
func TestTransferNotAllowed(t *testing.T) {
	tg := startTarget(t)
	addr, h := startServer(t, 0, func(c *sip.Config) {
		c.OutboundProxy = tg.addr
		c.TransferAllow = []string{"+1800*"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	phone := newPhone(t)
	referred := phone.AcceptRefer()
	call, err := phone.Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := <-h.answered
	for _, target := range []string{"+19005550100", "+1700", "1800555"} {
		if err := c.Transfer(ctx, target); !errors.Is(err, sip.ErrTransferNotAllowed) {
			t.Errorf("transfer to %s: %v, want ErrTransferNotAllowed", target, err)
		}
	}
	if len(tg.invites) != 0 || len(referred) != 0 {
		t.Error("a refused transfer sent an INVITE or a REFER")
	}
	call.Hangup(ctx)
	<-h.ended
}

func TestTransferAllowed(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		target   string
		want     bool
	}{
		{nil, "+18005550100", false},
		{[]string{"*"}, "+18005550100", true},
		{[]string{"+1800*"}, "+18005550100", true},
		{[]string{"+1800*"}, "+19005550100", false},
		{[]string{"+18005550100"}, "+18005550100", true},
		{[]string{"+18005550100"}, "+180055501000", false},
	} {
		if got := sip.TransferAllowed(tc.patterns, tc.target); got != tc.want {
			t.Errorf("TransferAllowed(%q, %q) = %v", tc.patterns, tc.target, got)
		}
	}
}

// A request without a header every request needs gets 400 and reaches no
// handler. (A BYE without Call-ID once left the server's lock held,
// found by FuzzRequest: every later call hung.)
func TestMissingHeaders(t *testing.T) {
	addr, h := startServer(t, 0)
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	for _, missing := range []string{"Call-ID", "From", "To", "CSeq"} {
		hdrs := map[string]string{"From": "<sip:a@" + local + ">;tag=1", "To": "<sip:svc@" + addr + ">;tag=2", "Call-ID": "missing-" + missing, "CSeq": "1 BYE"}
		msg := "BYE sip:svc@" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";rport;branch=z9hG4bK" + missing + "\r\n"
		for _, k := range []string{"From", "To", "Call-ID", "CSeq"} {
			if k != missing {
				msg += k + ": " + hdrs[k] + "\r\n"
			}
		}
		c.Write([]byte(msg + "Content-Length: 0\r\n\r\n"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		n, err := c.Read(buf)
		if err != nil || !strings.HasPrefix(firstLine(string(buf[:n])), "SIP/2.0 400") { // sipgo answers a missing CSeq itself

			t.Errorf("BYE without %s: %q (%v), want 400", missing, firstLine(string(buf[:max(n, 0)])), err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	call, err := newPhone(t).Dial(ctx, addr, "a", "b", nil)
	if err != nil {
		t.Fatalf("a call after the malformed requests: %v", err)
	}
	<-h.answered
	call.Hangup(ctx)
	<-h.ended
}

// Digest cannot be brute-forced: every use spends a nonce (a spent one is
// answered stale whatever the password, so it tells nothing), a digest for
// another target is refused, and a source with ten wrong answers is locked
// out, right password or not.
func TestDigestBruteForce(t *testing.T) {
	addr, _, srv := startServerWith(t, 0, func(c *sip.Config) {
		c.Auth = sip.NewDigestAuth("botline", map[string]string{"alice": "s3cret"})
	})
	challenge := func() *digest.Challenge {
		for _, line := range strings.Split(rawResponse(t, addr, "INVITE", "", 2*time.Second), "\r\n") {
			if v, ok := strings.CutPrefix(line, "WWW-Authenticate: "); ok {
				c, err := digest.ParseChallenge(v)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
		}
		t.Fatal("no challenge")
		return nil
	}
	answer := func(chal *digest.Challenge, uri, password string) string {
		cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: uri, Username: "alice", Password: password})
		if err != nil {
			t.Fatal(err)
		}
		return rawResponse(t, addr, "INVITE", "CSeq: 2 INVITE\r\nAuthorization: "+cred.String()+"\r\n", 2*time.Second)
	}
	target := "sip:svc@" + addr
	if got := answer(challenge(), "sip:other@evil.example", "s3cret"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Fatalf("the right password for another target: %.40q, want 403", got)
	}
	chal := challenge()
	if got := answer(chal, target, "guess-1"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Fatalf("a wrong password: %.40q, want 403", got)
	}
	for _, pw := range []string{"guess-2", "s3cret"} { // the same nonce again: no oracle
		if got := answer(chal, target, pw); !strings.HasPrefix(got, "SIP/2.0 401") || !strings.Contains(got, "stale=true") {
			t.Fatalf("a spent nonce with %q: %.60q, want 401 stale, whatever the password", pw, got)
		}
	}
	for i := 3; i <= 10; i++ {
		answer(challenge(), target, fmt.Sprintf("guess-%d", i))
	}
	if got := answer(challenge(), target, "s3cret"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Fatalf("the right password after ten wrong ones: %.40q, want 403 (locked out)", got)
	}
	if n := srv.Stats().RefusedLockedOut; n != 1 {
		t.Fatalf("%d INVITEs refused as locked out, want 1", n)
	}
}

// A refused INVITE is answered once and holds no transaction: a spoofed
// source that never ACKs gets one 401 or 403, not a train of
// retransmissions (UDP amplification).
func TestRefusalsAreAnsweredOnce(t *testing.T) {
	authAddr, _ := startServer(t, 0, func(c *sip.Config) {
		c.Auth = sip.NewDigestAuth("botline", map[string]string{"alice": "s3cret"})
	})
	refusedAddr, _ := startServer(t, 0, func(c *sip.Config) { c.Allow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")} })
	for name, addr := range map[string]string{"401": authAddr, "403": refusedAddr} {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		local := c.LocalAddr().String()
		fmt.Fprintf(c, "INVITE sip:svc@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKonce%s\r\nFrom: <sip:t@%s>;tag=1\r\nTo: <sip:svc@%s>\r\nCall-ID: once-%s\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			addr, local, name, local, addr, name)
		answers := 0
		buf := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(2500 * time.Millisecond)) // a transaction would have repeated it at 0.5 and 1.5 s
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if strings.HasPrefix(string(buf[:n]), "SIP/2.0 "+name) {
				answers++
			}
		}
		if answers != 1 {
			t.Errorf("%s: %d answers to one INVITE never ACKed, want 1", name, answers)
		}
	}
}
