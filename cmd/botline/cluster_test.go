package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startKamailio runs examples/kamailio/kamailio.cfg in front of nodes and
// returns its SIP address once it answers OPTIONS.
func startKamailio(t *testing.T, nodes ...*gateway) string {
	t.Helper()
	kam, err := exec.LookPath("kamailio")
	if err != nil {
		kam = "/usr/sbin/kamailio"
		if _, err := os.Stat(kam); err != nil {
			t.Fatal("kamailio not installed: run `make test`, which installs Debian's kamailio")
		}
	}
	dir := t.TempDir()
	list := filepath.Join(dir, "dispatcher.list")
	var b strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&b, "1 sip:%s\n", n.sipAddr)
	}
	os.WriteFile(list, []byte(b.String()), 0o644)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg, _ := filepath.Abs(filepath.Join("..", "..", "examples", "kamailio", "kamailio.cfg"))
	// One UDP worker: with several, a 180 and the 200 right behind it may
	// be forwarded out of order, which real phones ignore and SIPp's
	// scenario counts as a failed call.
	cmd := exec.Command(kam, "-f", cfg, "-DD", "-E", "-n", "1", "-A", fmt.Sprintf("DSLIST=%q", list), "-l", "udp:"+addr, "-w", dir, "-Y", dir)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // kamailio forks its workers: stop them all
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", out.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if code := optionsStatus(addr); code == 200 {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("kamailio does not answer OPTIONS on %s:\n%s", addr, out.String())
		}
	}
}

// optionsStatus sends one OPTIONS over UDP and returns the status (0: none).
func optionsStatus(addr string) int {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return 0
	}
	defer c.Close()
	local := c.LocalAddr().String()
	msg := "OPTIONS sip:" + addr + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + fmt.Sprint(time.Now().UnixNano()) +
		"\r\nFrom: <sip:probe@" + local + ">;tag=1\r\nTo: <sip:" + addr + ">\r\nCall-ID: " + fmt.Sprint(time.Now().UnixNano()) +
		"@probe\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	buf := make([]byte, 2048)
	n, err := c.Read(buf)
	if err != nil {
		return 0
	}
	var code int
	fmt.Sscanf(string(buf[:n]), "SIP/2.0 %d", &code)
	return code
}

// liveCalls is a node's /healthz call count.
func liveCalls(t *testing.T, g *gateway) (int, int) {
	t.Helper()
	res, err := http.Get(g.httpURL + "/healthz")
	if err != nil {
		return -1, 0
	}
	defer res.Body.Close()
	var h struct{ Calls int }
	json.NewDecoder(res.Body).Decode(&h)
	return h.Calls, res.StatusCode
}

func wavCount(g *gateway) int {
	w, _ := filepath.Glob(filepath.Join(g.dir, "*.wav"))
	return len(w)
}

// TestKamailioCluster: Kamailio (examples/kamailio) in front of two botline
// nodes. 40 SIPp calls through Kamailio land on both nodes and are all
// recorded. Then, with 10 calls up, node A is drained (POST /admin/drain):
// its /healthz and OPTIONS answer 503, its calls in progress finish with
// complete recordings, 10 calls placed after the drain all land on node B
// and none fails, and node A stops by itself once idle.
func TestKamailioCluster(t *testing.T) {
	args := []string{"--default-bot-call-time", "0", "--recording-notice", "none", "--tts", "none", "--stt", "none"}
	hookA := startWebhook(t, "127.0.0.1:0", 0)
	a := startGateway(t, append(args, "--node-id", "node-a", "--events-url", hookA.url)...)
	b := startGateway(t, append(args, "--node-id", "node-b")...)
	kam := &gateway{sipAddr: startKamailio(t, a, b)}
	scenario := filepath.Join("..", "..", "examples", "sipp", "caller.xml")

	if r := <-sippRun(t, kam, "", scenario, "-m", "40", "-r", "10", "-l", "40"); r.err != nil {
		t.Fatalf("40 calls through Kamailio: %v\n%s", r.err, r.out)
	}
	a.waitIdle(t)
	b.waitIdle(t)
	a1, b1 := wavCount(a), wavCount(b)
	t.Logf("40 calls: node A recorded %d, node B %d", a1, b1)
	if a1+b1 != 40 || a1 == 0 || b1 == 0 {
		t.Fatalf("node A recorded %d calls, node B %d; want 40 over both", a1, b1)
	}

	first := sippRun(t, kam, "", scenario, "-m", "10", "-r", "20", "-l", "10")
	var upA int
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		ca, _ := liveCalls(t, a)
		cb, _ := liveCalls(t, b)
		if ca+cb == 10 {
			upA = ca
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 calls not up: A %d, B %d", ca, cb)
		}
	}
	if code, body := a.request(t, "POST", "/admin/drain", "", ""); code != 202 {
		t.Fatalf("POST /admin/drain: %d %s", code, body)
	}
	if _, code := liveCalls(t, a); code != 503 {
		t.Fatalf("node A's /healthz while draining: %d, want 503", code)
	}
	if code := optionsStatus(a.sipAddr); code != 503 {
		t.Fatalf("node A's OPTIONS while draining: %d, want 503", code)
	}
	second := sippRun(t, kam, "", scenario, "-m", "10", "-r", "20", "-l", "10")
	for i, r := range []sippResult{<-first, <-second} {
		if r.err != nil {
			t.Fatalf("SIPp run %d during the drain: %v\n%s", i+1, r.err, r.out)
		}
	}
	// Node A stops by itself once its calls ended.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(a.log.String(), "drained: no call left, stopping"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node A did not stop after its calls ended")
		}
	}
	b.waitIdle(t)
	a2, b2 := wavCount(a), wavCount(b)
	t.Logf("during the drain: node A had %d calls up and recorded %d more; node B recorded %d more", upA, a2-a1, b2-b1)
	if a2-a1 != upA || b2-b1 != 20-upA {
		t.Fatalf("node A recorded %d more (had %d up), node B %d more; want every call after the drain on B", a2-a1, upA, b2-b1)
	}
	wavs, _ := filepath.Glob(filepath.Join(a.dir, "*.wav"))
	for _, w := range wavs {
		md := readMetadata(t, strings.TrimSuffix(w, ".wav")+".json")
		if d := readWAV(t, w).duration; d < 7*time.Second || md.EndReason == "" || md.Sha256 == "" || md.ResourceID != "botline@node-a" {
			t.Fatalf("node A's recording %s: %v, metadata %+v", w, d, md)
		}
	}
	// Node A stopped only once its webhook had every file-ready event.
	if n := len(hookA.events); n != a2 {
		t.Fatalf("node A's webhook had %d file-ready events when A stopped, A recorded %d", n, a2)
	}
}
