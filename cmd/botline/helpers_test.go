package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/sip/siptest"
	"github.com/go-audio/wav"
)

// received is one activity a test bot got, and when.
type received struct {
	at   time.Time
	a    activity.Activity
	auth string // its Authorization header
}

// httpBot is a bot endpoint that hands every activity to the test.
type httpBot struct {
	url string
	in  chan received
}

func startHTTPBot(t *testing.T) *httpBot {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &httpBot{url: "http://" + ln.Addr().String() + "/api/messages", in: make(chan received, 100)}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a activity.Activity
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		b.in <- received{time.Now(), a, r.Header.Get("Authorization")}
		w.WriteHeader(200)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return b
}

// next waits for the next activity of type typ, failing on others' absence.
func (b *httpBot) next(t *testing.T, typ string, timeout time.Duration) received {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case r := <-b.in:
			if r.a.Type == typ {
				return r
			}
			t.Logf("bot got %s %s", r.a.Type, r.a.Name)
		case <-deadline:
			t.Fatalf("no %s activity within %v", typ, timeout)
		}
	}
}

// wavFile is a decoded, validated recording.
type wavFile struct {
	samples  []int
	duration time.Duration
}

// readWAV checks that path is a valid 8 kHz 16-bit mono WAV whose header
// sizes match the file, and returns its samples.
func readWAV(t *testing.T, path string) wavFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	d := wav.NewDecoder(f)
	if !d.IsValidFile() {
		t.Fatalf("%s is not a valid WAV", path)
	}
	buf, err := d.FullPCMBuffer()
	if err != nil {
		t.Fatal(err)
	}
	if d.SampleRate != 8000 || d.NumChans != 1 || d.BitDepth != 16 {
		t.Fatalf("%s: %d Hz, %d channels, %d bits", path, d.SampleRate, d.NumChans, d.BitDepth)
	}
	if want := int64(44 + 2*len(buf.Data)); st.Size() != want {
		t.Fatalf("%s: %d bytes on disk, header says %d", path, st.Size(), want)
	}
	return wavFile{samples: buf.Data, duration: time.Duration(len(buf.Data)) * time.Second / 8000}
}

func readMetadata(t *testing.T, path string) recorder.Metadata {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var md recorder.Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatal(err)
	}
	return md
}

func rmsOf(s []int) float64 {
	if len(s) == 0 {
		return 0
	}
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// post sends body as JSON and returns the status and response body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// dial places a call from +14255550123 to +18005550199 at the gateway with
// a Go SIP caller; the context bounds the whole test's use of the call.
func dial(t *testing.T, gw *gateway, timeout time.Duration) (context.Context, *siptest.Phone, *siptest.Call) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	phone, err := siptest.NewPhone(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	call, err := phone.Dial(ctx, gw.sipAddr, "+14255550123", "+18005550199", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ctx, phone, call
}

// sippResult is how a SIPp run ended.
type sippResult struct {
	err error
	out string
}

// sippCall runs the example SIPp caller (examples/sipp/caller.xml: ~7 s of
// PCMA speech, then BYE) against the gateway; the result arrives when SIPp
// exits. SIPp is killed when the test ends.
func sippCall(t *testing.T, gw *gateway) <-chan sippResult {
	t.Helper()
	return sippRun(t, gw, "", filepath.Join("..", "..", "examples", "sipp", "caller.xml"))
}

// sippRun runs a SIPp scenario file in dir (the test's directory when "")
// against the gateway; extra arguments go before the target.
func sippRun(t *testing.T, gw *gateway, dir, scenario string, extra ...string) <-chan sippResult {
	t.Helper()
	scenario, _ = filepath.Abs(scenario)
	sipp, err := exec.LookPath("sipp")
	if err != nil {
		t.Fatal("sipp not installed: run `make test`, which installs Debian's sip-tester")
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	args := append([]string{"-sf", scenario,
		"-s", "+18005550199", "-m", "1", "-i", "127.0.0.1", "-p", fmt.Sprint(freePort(t)),
		"-mp", fmt.Sprint(30000 + freePort(t)%1000*2), "-timeout", "40", "-timeout_error", "-nostdin"}, extra...)
	cmd := exec.CommandContext(ctx, sipp, append(args, gw.sipAddr)...)
	cmd.Dir = dir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan sippResult, 1)
	go func() {
		err := cmd.Run()
		done <- sippResult{err, out.String()}
	}()
	return done
}
