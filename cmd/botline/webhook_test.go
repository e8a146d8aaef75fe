package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// consumerLine is one line examples/webhook-consumer prints.
type consumerLine struct {
	Event, ID, EventType, Reason string
	Data                         json.RawMessage
}

// startConsumer runs examples/webhook-consumer with secret and returns its
// URL and its lines.
func startConsumer(t *testing.T, secret string) (string, <-chan consumerLine) {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("..", "..", "examples", "webhook-consumer"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "standardwebhooks")); err != nil {
		t.Fatalf("standardwebhooks is not installed in %s: run `make test`, which runs npm ci there", dir)
	}
	port := freePort(t)
	cmd := exec.Command("node", "index.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "WEBHOOK_SECRET="+secret, fmt.Sprintf("PORT=%d", port))
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan consumerLine, 20)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var l consumerLine
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
		close(lines)
	}()
	if l := nextConsumerLine(t, lines); l.Event != "listening" {
		t.Fatalf("consumer said %+v first", l)
	}
	return fmt.Sprintf("http://127.0.0.1:%d/events", port), lines
}

func nextConsumerLine(t *testing.T, lines <-chan consumerLine) consumerLine {
	t.Helper()
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the webhook consumer exited")
		}
		return l
	case <-time.After(30 * time.Second):
		t.Fatal("the webhook consumer said nothing for 30 s")
	}
	return consumerLine{}
}

// capturedPost is one request as botline sent it.
type capturedPost struct {
	header http.Header
	body   []byte
}

// relay forwards every request to target unchanged and keeps a copy.
func relay(t *testing.T, target string) (string, func() []capturedPost) {
	t.Helper()
	var mu sync.Mutex
	var posts []capturedPost
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		posts = append(posts, capturedPost{r.Header.Clone(), body})
		mu.Unlock()
		req, _ := http.NewRequest(r.Method, target, bytes.NewReader(body))
		req.Header = r.Header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer res.Body.Close()
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/events", func() []capturedPost {
		mu.Lock()
		defer mu.Unlock()
		return append([]capturedPost(nil), posts...)
	}
}

// TestSignedWebhooks: with --events-secret, examples/webhook-consumer (the
// standardwebhooks package checking every post) answers botline's Event
// Grid subscription validation and accepts the file-ready event of a
// recorded SIPp call; the same post with one byte of its body changed is
// refused, and so is a botline signing with another secret, whose event
// then stays queued.
func TestSignedWebhooks(t *testing.T) {
	const secret = "a-long-shared-secret-for-botline"
	consumer, lines := startConsumer(t, secret)
	hookURL, captured := relay(t, consumer)
	gw := startGateway(t, "--events-url", hookURL, "--events-secret", secret, "--stt", "none", "--tts", "none",
		"--recording-notice", "none", "--api-token", "tok")
	if r := <-sippCall(t, gw); r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	if l := nextConsumerLine(t, lines); l.Event != "validation" {
		t.Fatalf("the consumer's first line %+v, want the subscription validation", l)
	}
	l := nextConsumerLine(t, lines)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if l.Event != "accepted" || l.EventType != "Microsoft.Communication.RecordingFileStatusUpdated" || len(wavs) != 1 ||
		!strings.Contains(string(l.Data), strings.TrimSuffix(filepath.Base(wavs[0]), ".wav")) {
		t.Fatalf("the consumer's second line %+v; recordings %v", l, wavs)
	}

	posts := captured()
	if len(posts) != 2 || posts[1].header.Get("aeg-event-type") != "Notification" {
		t.Fatalf("%d posts went through the relay, want the validation and the event", len(posts))
	}
	ev := posts[1]
	tampered := bytes.Replace(ev.body, []byte(`"documentId":"`), []byte(`"documentId":"X`), 1)
	if bytes.Equal(tampered, ev.body) {
		t.Fatalf("no documentId in %s", ev.body)
	}
	for what, body := range map[string][]byte{"a tampered body": tampered} {
		req, _ := http.NewRequest("POST", consumer, bytes.NewReader(body))
		req.Header = ev.header.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if l := nextConsumerLine(t, lines); res.StatusCode != 401 || l.Event != "refused" {
			t.Fatalf("%s: %d, consumer %+v; want 401 and refused", what, res.StatusCode, l)
		}
	}

	// A botline with another secret: its validation is refused, and its
	// event waits in the queue.
	other := startGateway(t, "--events-url", consumer, "--events-secret", "not-the-consumer-secret", "--stt", "none",
		"--tts", "none", "--recording-notice", "none", "--api-token", "tok")
	if r := <-sippCall(t, other); r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	if l := nextConsumerLine(t, lines); l.Event != "refused" {
		t.Fatalf("the consumer took another secret's post: %+v", l)
	}
	other.waitIdle(t)
	if q := scrape(t, other)["botline_webhook_queue"]; q != 1 {
		t.Fatalf("webhook queue %v, want the unvalidated event kept", q)
	}
}
