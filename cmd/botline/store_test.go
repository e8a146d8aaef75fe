package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/recorder"
	"github.com/minio/minio-go/v7"
)

// storeNode's flags: the embedded bot records every call; no voice.
func storeNodeArgs(m *minioServer, prefix string, extra ...string) []string {
	args := []string{"--default-bot-call-time", "0", "--recording-notice", "none", "--tts", "none", "--stt", "none"}
	return append(append(args, m.storeArgs(prefix)...), extra...)
}

// waitFlushed waits until a recording in dir holds at least d of audio on
// the disk, and returns its WAV's path.
func waitFlushed(t *testing.T, dir string, d time.Duration) string {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		w, _ := filepath.Glob(filepath.Join(dir, "*.wav"))
		if len(w) == 1 {
			if st, err := os.Stat(w[0]); err == nil && st.Size() >= 44+int64(d.Seconds()*16000) {
				return w[0]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording with %v of audio in %s: %v", d, dir, w)
		}
	}
}

// TestStoreKill9MidCall: a node with --store is killed (SIGKILL) during a
// recorded SIPp call and started again: the recording is repaired, reaches
// the bucket whole (sha256 as its metadata says, endReason
// ServiceRestarted), leaves the disk, downloads from the node, and its
// file-ready event is delivered once: the event arrives when the objects
// are there, and a further restart sends nothing again.
func TestStoreKill9MidCall(t *testing.T) {
	m := startMinIO(t)
	hook := startWebhook(t, "127.0.0.1:0", 0)
	dir := t.TempDir()
	args := storeNodeArgs(m, "kill", "--events-url", hook.url, "--recordings-dir", dir,
		"--http-listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "--api-token", "tok")
	gw := startGateway(t, args...)
	sippCall(t, gw) // fails once the node is gone
	wav := waitFlushed(t, dir, 3*time.Second)
	gw.kill()
	id := filepath.Base(wav[:len(wav)-4])

	gw = startGateway(t, args...)
	ev := hook.next(t, 30*time.Second)
	if ev.ID != id || ev.Data.SessionEndReason != recorder.SessionEndServiceRestarted {
		t.Fatalf("event %+v for the killed recording %s", ev, id)
	}
	recs := m.recordings(t, "kill") // the event came after the upload
	r, ok := recs[id]
	if !ok || len(recs) != 1 {
		t.Fatalf("bucket at the event: %d recordings, %s missing", len(recs), id)
	}
	checkBucketRecording(t, id, r, 3*time.Second)
	if r.md.EndReason != recorder.EndServiceRestarted || localAudio(gw) != 0 {
		t.Fatalf("repaired recording: endReason %q, %d audio files on disk", r.md.EndReason, localAudio(gw))
	}
	checkDownloads(t, recs, gw)

	gw.stop(t)
	gw = startGateway(t, args...)
	if mt := scrape(t, gw); mt["botline_upload_queue"] != 0 || mt["botline_webhook_queue"] != 0 {
		t.Fatalf("after a further restart: upload queue %v, webhook queue %v", mt["botline_upload_queue"], mt["botline_webhook_queue"])
	}
	if n := len(hook.events); n != 0 {
		t.Fatalf("%d more file-ready events after a further restart", n)
	}
}

// TestStoreOutage: MinIO is stopped for 20 s in the middle of a run of 12
// SIPp calls. Recordings that end meanwhile wait on the disk (the upload
// queue shows them) and their file-ready events are held back; once MinIO
// is back, every recording reaches the bucket whole and every event is
// delivered, none twice.
func TestStoreOutage(t *testing.T) {
	m := startMinIO(t)
	hook := startWebhook(t, "127.0.0.1:0", 0)
	gw := startGateway(t, storeNodeArgs(m, "outage", "--events-url", hook.url, "--api-token", "tok")...)
	scenario := filepath.Join("..", "..", "examples", "sipp", "caller.xml")
	run := sippRun(t, gw, "", scenario, "-m", "12", "-r", "1", "-l", "12")

	// The first call's event shows the store works; then the outage.
	first := hook.next(t, 30*time.Second)
	m.Stop()
	down := time.Now()
	t.Log("MinIO stopped")
	// Once the uploader has hit the outage and the webhook queue is empty,
	// no event may go out until MinIO is back.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		mt := scrape(t, gw)
		if mt["botline_upload_queue"] >= 1 && mt[`botline_uploads_total{result="failed"}`] >= 1 && mt["botline_webhook_queue"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the uploader did not notice the outage: %v", mt)
		}
	}
	heldBack := len(hook.events)
	time.Sleep(20*time.Second - time.Since(down)) // the outage lasts 20 s
	mt := scrape(t, gw)
	t.Logf("after 20 s down: %v recordings waiting for the store, %v failed attempts", mt["botline_upload_queue"], mt[`botline_uploads_total{result="failed"}`])
	if mt["botline_upload_queue"] < 5 {
		t.Fatalf("only %v recordings waiting after 20 s down (calls end every second)", mt["botline_upload_queue"])
	}
	if n := len(hook.events) - heldBack; n != 0 {
		t.Fatalf("%d file-ready events went out while their recordings could not reach the store", n)
	}
	m.Start(t)
	t.Log("MinIO started again")
	if r := <-run; r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	recs := m.waitRecordings(t, "outage", 12, 60*time.Second)
	for id, r := range recs {
		checkBucketRecording(t, id, r, 7*time.Second)
	}
	seen := map[string]bool{first.ID: true}
	for len(seen) < 12 {
		ev := hook.next(t, 60*time.Second)
		if seen[ev.ID] {
			t.Fatalf("event for %s delivered twice", ev.ID)
		}
		if _, ok := recs[ev.ID]; !ok {
			t.Fatalf("event for %s, which is not in the bucket", ev.ID)
		}
		seen[ev.ID] = true
	}
	if n := localAudio(gw); n != 0 {
		t.Fatalf("%d audio files left on disk after the store came back", n)
	}
	checkDownloads(t, recs, gw)
}

// TestStoreAnyNode: two nodes share a bucket; node A records two SIPp
// calls. Node B finds them by search, serves their metadata, and erases
// one (its objects leave the bucket; node A no longer serves it); a node
// started with --retention 1s sweeps the other from the bucket.
func TestStoreAnyNode(t *testing.T) {
	m := startMinIO(t)
	a := startGateway(t, storeNodeArgs(m, "any", "--node-id", "node-a", "--api-token", "tok")...)
	b := startGateway(t, storeNodeArgs(m, "any", "--node-id", "node-b", "--api-token", "tok")...)
	scenario := filepath.Join("..", "..", "examples", "sipp", "caller.xml")
	if r := <-sippRun(t, a, "", scenario, "-m", "2", "-r", "2", "-l", "2"); r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	recs := m.waitRecordings(t, "any", 2, 30*time.Second)
	var ids []string
	for id := range recs {
		ids = append(ids, id)
	}
	code, body := b.request(t, "GET", "/recordings?dialed=%2B18005550199", "", "tok")
	if code != 200 || !strings.Contains(string(body), ids[0]) || !strings.Contains(string(body), ids[1]) {
		t.Fatalf("search on node B: %d %s; want %v", code, body, ids)
	}
	if code, body := b.request(t, "GET", "/recording/download/"+ids[0]+"/metadata", "", "tok"); code != 200 || !strings.Contains(string(body), `"botline@node-a"`) {
		t.Fatalf("node A's metadata from node B: %d %s", code, body)
	}
	if code, body := b.request(t, "DELETE", "/recording/"+ids[0], "", "tok"); code/100 != 2 {
		t.Fatalf("erasure on node B: %d %s", code, body)
	}
	if _, left := m.recordings(t, "any")[ids[0]]; left {
		t.Fatalf("%s still in the bucket after erasure", ids[0])
	}
	for _, obj := range []string{ids[0] + ".wav", ids[0] + ".json"} {
		if _, err := m.client.StatObject(t.Context(), "recordings", "any/"+obj, minio.StatObjectOptions{}); err == nil {
			t.Fatalf("any/%s still in the bucket after erasure", obj)
		}
	}
	if code, _ := download(t, a, ids[0]); code != 404 {
		t.Fatalf("node A serves an erased recording: %d", code)
	}
	startGateway(t, storeNodeArgs(m, "any", "--node-id", "node-c", "--retention", "1s")...)
	for deadline := time.Now().Add(15 * time.Second); m.count(t, "any") > 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("retention did not sweep the bucket")
		}
	}
}
