package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icholy/digest"
)

// TestFloodWhileACallIsRecorded: for a few seconds a source outside
// --sip-allow (127.0.0.2) floods the gateway with junk datagrams, INVITEs
// and TCP connections, while a SIPp call from an allowed source is
// recorded. The call's recording is whole, the flood is counted (not
// logged line by line), and afterwards the gateway's goroutines and
// resident memory are back near where they were.
func TestFloodWhileACallIsRecorded(t *testing.T) {
	gw := startGateway(t, "--sip-allow", "127.0.0.1", "--api-token", strings.Repeat("k", 16), "--tts", "none", "--stt", "none",
		"--recording-notice", "none")
	base := scrape(t, gw)
	call := sippCall(t, gw)

	flood := func(network string, payload func(i int, local string) []byte, n int) {
		d := net.Dialer{LocalAddr: map[string]net.Addr{"udp": &net.UDPAddr{IP: net.ParseIP("127.0.0.2")},
			"tcp": &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}[network]}
		if network == "tcp" {
			var conns []net.Conn
			for range n {
				if c, err := d.Dial("tcp", gw.sipAddr); err == nil {
					conns = append(conns, c)
				}
			}
			for _, c := range conns {
				c.Close()
			}
			return
		}
		c, err := d.Dial("udp", gw.sipAddr)
		if err != nil {
			t.Error(err)
			return
		}
		defer c.Close()
		for i := range n {
			c.Write(payload(i, c.LocalAddr().String()))
			if i%100 == 0 {
				time.Sleep(time.Millisecond) // a few hundred a second per flooder, not one burst the socket drops
			}
		}
	}
	junk := []byte(strings.Repeat("\x16\x03junk ", 1000))
	invite := func(i int, local string) []byte {
		return fmt.Appendf(nil, "INVITE sip:+18005550199@%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKflood%d\r\nFrom: <sip:x@%s>;tag=%d\r\nTo: <sip:+18005550199@%s>\r\nCall-ID: flood-%d\r\nCSeq: 1 INVITE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			gw.sipAddr, local, i, local, i, gw.sipAddr, i)
	}
	var wg sync.WaitGroup
	wg.Go(func() { flood("udp", func(int, string) []byte { return junk }, 3000) })
	wg.Go(func() { flood("udp", invite, 3000) })
	wg.Go(func() { flood("tcp", nil, 500) })
	wg.Wait()

	if r := <-call; r.err != nil {
		t.Fatalf("the call during the flood: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v, want the call's", wavs)
	}
	if d := readWAV(t, wavs[0]).duration; d < 6500*time.Millisecond {
		t.Fatalf("the call's recording holds %v, want its ~7.5 s whole", d)
	}
	m := scrape(t, gw)
	if refused := m[`botline_sip_refused_total{why="source"}`] + m[`botline_sip_refused_total{why="connection_source"}`]; refused < 1000 {
		t.Errorf("%v refusals counted for a flood of 6,500 requests and connections", refused)
	}
	if n := len(gw.log.String()); n > 256<<10 {
		t.Errorf("%d KiB of log for the flood", n>>10)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		m = scrape(t, gw)
		goroutines, rss := m["go_goroutines"], m["process_resident_memory_bytes"]
		if goroutines <= base["go_goroutines"]+15 && rss <= base["process_resident_memory_bytes"]+64<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the flood: %v goroutines (before %v), RSS %.0f MiB (before %.0f MiB)", goroutines, base["go_goroutines"],
				rss/(1<<20), base["process_resident_memory_bytes"]/(1<<20))
		}
	}
}

// TestDigestBruteForceWhileACallIsRecorded: a source (127.0.0.2) guesses
// the digest password of the gateway's one user, a challenge per guess,
// while a SIPp caller with the right password is recorded. The guesser
// is locked out after ten wrong answers (its later guesses, right or not,
// are refused without a check), the user is not (one source cannot lock
// it out), and the call's recording is whole.
func TestDigestBruteForceWhileACallIsRecorded(t *testing.T) {
	password := "a-long-enough-secret"
	users := filepath.Join(t.TempDir(), "users")
	os.WriteFile(users, []byte("alice:"+password+"\n"), 0o600)
	gw := startGateway(t, "--sip-auth", users, "--tts", "none", "--stt", "none", "--recording-notice", "none")
	call := sippRun(t, gw, "", filepath.Join("..", "..", "examples", "sipp", "caller-auth.xml"), "-au", "alice", "-ap", password)

	d := net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.Dial("udp", gw.sipAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	target := "sip:+18005550199@" + gw.sipAddr
	send := func(i int, authz string) string {
		fmt.Fprintf(c, "INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKguess%d\r\nFrom: <sip:x@%s>;tag=%d\r\nTo: <%s>\r\nCall-ID: guess-%d\r\nCSeq: 1 INVITE\r\n%sMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			target, local, i, local, i, target, i, authz)
		buf := make([]byte, 4096)
		for {
			c.SetReadDeadline(time.Now().Add(3 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				return ""
			}
			if msg := string(buf[:n]); !strings.HasPrefix(msg, "SIP/2.0 100") {
				return msg
			}
		}
	}
	refused := 0
	for i := range 40 { // a guess per challenge, as a cracker must, under --sip-invite-rate (20 INVITEs a second)
		time.Sleep(125 * time.Millisecond)
		res := send(2*i, "")
		_, v, ok := strings.Cut(res, "WWW-Authenticate: ")
		if !ok {
			t.Fatalf("guess %d: no challenge: %.80q", i, res)
		}
		v, _, _ = strings.Cut(v, "\r\n")
		chal, err := digest.ParseChallenge(v)
		if err != nil {
			t.Fatal(err)
		}
		cred, _ := digest.Digest(chal, digest.Options{Method: "INVITE", URI: target, Username: "alice", Password: fmt.Sprintf("guess-%d", i)})
		if got := send(2*i+1, "Authorization: "+cred.String()+"\r\n"); strings.HasPrefix(got, "SIP/2.0 403") {
			refused++
		}
	}
	if r := <-call; r.err != nil {
		t.Fatalf("the right caller during the guessing: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 || readWAV(t, wavs[0]).duration < 6500*time.Millisecond {
		t.Fatalf("recordings %v: want the authenticated call's, whole", wavs)
	}
	var st struct {
		Unauthorized uint64 `json:"sipRefusedUnauthorized"`
		LockedOut    uint64 `json:"sipRefusedLockedOut"`
	}
	_, body := gw.request(t, "GET", "/stats", "", gw.token)
	json.Unmarshal(body, &st)
	if refused != 40 || st.LockedOut != 30 {
		t.Fatalf("%d of 40 guesses refused, %d of them as locked out; want all, 30 locked out (after ten wrong)", refused, st.LockedOut)
	}
}
