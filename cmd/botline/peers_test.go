package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recordingsapi"
)

// TestPeersForwardRecordingControl: two nodes that know each other
// (--peer). A SIPp call lands on node B; its recording id starts with node
// B's tag, and node A controls the recording as if it were its own: pause,
// state, resume and a start by serverCallId (B's own 409 and message come
// back), an unknown call is 404 from both, and after the call the
// recording downloads byte-exact through A. A request a node passed on is
// never passed on again.
func TestPeersForwardRecordingControl(t *testing.T) {
	addrA, addrB := fmt.Sprintf("127.0.0.1:%d", freePort(t)), fmt.Sprintf("127.0.0.1:%d", freePort(t))
	args := []string{"--default-bot-call-time", "0", "--recording-notice", "none", "--tts", "none", "--stt", "none", "--api-token", "tok"}
	a := startGateway(t, append(args, "--node-id", "node-a", "--http-listen", addrA, "--peer", "node-b=http://"+addrB)...)
	b := startGateway(t, append(args, "--node-id", "node-b", "--http-listen", addrB, "--peer", "node-a=http://"+addrA)...)

	call := sippCall(t, b)
	started := regexp.MustCompile(`msg="recording start" .*callId=(\S+) .*recordingId=(\S+)`)
	var callID, id string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if m := started.FindStringSubmatch(b.log.String()); m != nil {
			callID, id = m[1], m[2]
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("node B started no recording")
		}
	}
	if tag := recorder.NodeTag("node-b"); !strings.HasPrefix(id, tag) || recorder.NodeTag("node-a") == tag {
		t.Fatalf("node B's recording id %s does not start with its tag %s", id, tag)
	}
	for _, step := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/calling/recordings/" + id + ":pause", "", 200, `"recordingState":"paused"`},
		{"GET", "/calling/recordings/" + id, "", 200, `"recordingState":"paused"`},
		{"POST", "/calling/recordings/" + id + ":resume", "", 200, `"recordingState":"active"`},
		{"POST", "/calling/recordings", `{"serverCallId":"` + callID + `"}`, 409, recorder.ErrAlreadyInProgress.Message},
		{"POST", "/calling/recordings", `{"serverCallId":"no-such-call"}`, 404, "CallNotFound"},
	} {
		code, body := a.request(t, step.method, step.path, step.body, "tok")
		if code != step.code || !strings.Contains(string(body), step.want) {
			t.Fatalf("%s %s through node A: %d %s; want %d with %s", step.method, step.path, code, body, step.code, step.want)
		}
	}
	// Passed on once at most: node A answers a forwarded request itself.
	req, _ := http.NewRequest("GET", a.httpURL+"/calling/recordings/"+id, nil)
	req.Header.Set("Authorization", "Bearer tok")
	req.Header.Set(recordingsapi.ForwardedBy, "node-b")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 404 {
		t.Fatalf("a forwarded request for B's recording at A: %v %v; want A's own 404", err, res)
	}

	if r := <-call; r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	b.waitIdle(t)
	want, err := os.ReadFile(filepath.Join(b.dir, id+".wav"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ = http.NewRequest("GET", a.httpURL+"/recording/download/"+id, nil)
	req.Header.Set("Authorization", "Bearer tok")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	got.ReadFrom(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("node B's recording through node A: %d, %d bytes of %d", res.StatusCode, got.Len(), len(want))
	}
	md := readMetadata(t, filepath.Join(b.dir, id+".json"))
	if len(md.PauseResumeIntervals) != 1 {
		t.Fatalf("the pause through node A is not in the recording: %+v", md.PauseResumeIntervals)
	}
	if out, err := exec.Command(binary, "verify", b.dir).CombinedOutput(); err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
}

// TestRefusesCollidingPeers: two nodes whose ids would carry the same tag
// cannot be told apart; botline says so and does not start.
func TestRefusesCollidingPeers(t *testing.T) {
	out, err := exec.Command(binary, "--node-id", "same", "--peer", "same=http://127.0.0.1:1",
		"--sip-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--http-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		"--recordings-dir", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "give one of them another --node-id") {
		t.Fatalf("started with a peer of its own tag: %v\n%s", err, out)
	}
}
