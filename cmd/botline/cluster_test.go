package main

import (
	"bytes"
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

// byNode counts a bucket's recordings by the node that made them.
func byNode(recs map[string]bucketRecording) map[string]int {
	n := map[string]int{}
	for _, r := range recs {
		n[r.md.ResourceID]++
	}
	return n
}

// localAudio counts the audio files still on a node's disk.
func localAudio(g *gateway) int {
	w, _ := filepath.Glob(filepath.Join(g.dir, "*.wav"))
	return len(w)
}

// TestKamailioCluster: Kamailio (examples/kamailio) in front of two botline
// nodes sharing a MinIO bucket. 40 SIPp calls through Kamailio land on both
// nodes; every recording reaches the bucket (and leaves the nodes' disks),
// verifies against its sha256, and downloads byte-exact from either node.
// Then, with 10 calls up, node A is drained (POST /admin/drain): its
// /healthz and OPTIONS answer 503, its calls in progress finish with
// complete recordings that reach the bucket before it stops, 10 calls
// placed after the drain all land on node B and none fails, and node A
// stops by itself once idle, its webhook holding every file-ready event.
func TestKamailioCluster(t *testing.T) {
	m := startMinIO(t)
	args := append([]string{"--default-bot-call-time", "0", "--recording-notice", "none", "--tts", "none", "--stt", "none"}, m.storeArgs("cluster")...)
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
	recs := m.waitRecordings(t, "cluster", 40, 30*time.Second)
	nodes := byNode(recs)
	a1, b1 := nodes["botline@node-a"], nodes["botline@node-b"]
	t.Logf("40 calls: node A recorded %d, node B %d; all in the bucket", a1, b1)
	if len(recs) != 40 || a1 == 0 || b1 == 0 {
		t.Fatalf("the bucket has %d recordings, by node %v; want 40 over both", len(recs), nodes)
	}
	for id, r := range recs {
		checkBucketRecording(t, id, r, 7*time.Second)
	}
	checkDownloads(t, recs, a, b)
	if la, lb := localAudio(a), localAudio(b); la+lb != 0 {
		t.Fatalf("audio left on the nodes' disks after upload: A %d, B %d", la, lb)
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
	// Node A stops by itself once its calls ended and their recordings are
	// in the bucket.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(a.log.String(), "drained: no call left, stopping"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("node A did not stop after its calls ended")
		}
	}
	a2 := byNode(m.recordings(t, "cluster"))["botline@node-a"]
	if a2-a1 != upA || localAudio(a) != 0 {
		t.Fatalf("node A stopped with %d of its %d drained calls' recordings in the bucket, %d on its disk", a2-a1, upA, localAudio(a))
	}
	b.waitIdle(t)
	recs = m.waitRecordings(t, "cluster", 60, 30*time.Second)
	nodes = byNode(recs)
	b2 := nodes["botline@node-b"]
	t.Logf("during the drain: node A had %d calls up and recorded %d more; node B recorded %d more", upA, a2-a1, b2-b1)
	if len(recs) != 60 || b2-b1 != 20-upA {
		t.Fatalf("node A recorded %d more (had %d up), node B %d more (%d in all); want every call after the drain on B", a2-a1, upA, b2-b1, len(recs))
	}
	for id, r := range recs {
		checkBucketRecording(t, id, r, 7*time.Second)
	}
	// Node A stopped only once its webhook had every file-ready event, each
	// naming a recording the bucket holds.
	if n := len(hookA.events); n != a2 {
		t.Fatalf("node A's webhook had %d file-ready events when A stopped, A recorded %d", n, a2)
	}
	for range a2 {
		ev := <-hookA.events
		if _, ok := recs[ev.ID]; !ok {
			t.Fatalf("event for %s, which is not in the bucket", ev.ID)
		}
	}
	// Node B serves node A's recordings now that A is gone.
	for id, r := range recs {
		if r.md.ResourceID == "botline@node-a" {
			if code, got := download(t, b, id); code != 200 || !bytes.Equal(got, r.audio) {
				t.Fatalf("node A's %s from node B after A stopped: %d", id, code)
			}
		}
	}
}
