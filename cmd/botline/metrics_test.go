package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/botline/botline/sip"
)

// scrape reads /metrics into "name{labels}" -> value.
func scrape(t *testing.T, gw *gateway) map[string]float64 {
	t.Helper()
	code, body := gw.request(t, "GET", "/metrics", "", gw.token)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// After 20 SIPp calls (each recorded by the embedded bot, ~7 s of speech,
// then BYE), /metrics counts what they did: 20 calls ended by the caller,
// 20 setups, 20 recordings finalized with their audio, a 200 for every
// INVITE and BYE, the RTP /stats reports, and nothing active. The token
// guards it like /stats.
func TestMetricsAfterSIPpCalls(t *testing.T) {
	// A webhook that turns away its first 5 posts: they are retried.
	var posts atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answerValidation(w, r) {
			return
		}
		io.Copy(io.Discard, r.Body)
		if posts.Add(1) <= 5 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(hook.Close)
	gw := startGateway(t, "--stt", "none", "--tts", "none", "--recording-notice", "none", "--api-token", "s3cret-token",
		"--events-url", hook.URL)
	if code, _ := gw.request(t, "GET", "/metrics", "", ""); code != 401 {
		t.Fatalf("/metrics without the token: %d, want 401", code)
	}
	r := <-sippRun(t, gw, "", filepath.Join("..", "..", "examples", "sipp", "caller.xml"), "-m", "20", "-r", "10", "-l", "20")
	if r.err != nil {
		t.Fatalf("SIPp: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	m := scrape(t, gw)
	for deadline := time.Now().Add(30 * time.Second); m["botline_webhook_queue"] != 0 || m[`botline_webhook_posts_total{result="delivered"}`] < 20; m = scrape(t, gw) {
		if time.Now().After(deadline) {
			t.Fatalf("webhook queue %v, delivered %v: the failed posts were not retried",
				m["botline_webhook_queue"], m[`botline_webhook_posts_total{result="delivered"}`])
		}
		time.Sleep(200 * time.Millisecond) // polling a gauge; the retry backoff starts at 1 s
	}
	var st sip.Totals
	_, body := gw.request(t, "GET", "/stats", "", gw.token)
	json.Unmarshal(body, &st)
	for name, want := range map[string]float64{
		`botline_calls_total{reason="remote_hangup"}`:     20,
		`botline_call_setup_seconds_count`:                20,
		`botline_recordings_finished_total`:               20,
		`botline_sip_responses_total{code="200"}`:         40, // 20 INVITEs, 20 BYEs
		`botline_calls_active`:                            0,
		`botline_conversations_active`:                    0,
		`botline_recordings_active{state="recording"}`:    0,
		`botline_rtp_packets_total{kind="received"}`:      float64(st.RTPReceived),
		`botline_rtp_packets_total{kind="sent"}`:          float64(st.RTPSent),
		`botline_sip_refused_total{why="unauthorized"}`:   0,
		`botline_bot_delivery_failures_total`:             0,
		`botline_call_setup_seconds_bucket{le="+Inf"}`:    20,
		`botline_webhook_posts_total{result="delivered"}`: 20,
		`botline_webhook_posts_total{result="failed"}`:    5,
		`botline_webhook_queue`:                           0,
		// every recording's writes reached the file, none held up the clock
		`botline_recording_disk_queue`:       0,
		`botline_recording_disk_waits_total`: 0,
	} {
		if got, ok := m[name]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", name, got, ok, want)
		}
	}
	if st.RTPReceived < 20*200 {
		t.Errorf("RTP received %d, want ~20 calls x 7 s of 30 ms packets", st.RTPReceived)
	}
	if s := m["botline_recorded_seconds_total"]; s < 20*7 || s > 20*10 {
		t.Errorf("recorded seconds %v, want ~20 x 8", s)
	}
	// 8 kHz 16-bit mono: 16,000 bytes a second, and a 44-byte header each.
	if b, want := m["botline_recorded_bytes_total"], m["botline_recorded_seconds_total"]*16000+20*44; b < want-20*16 || b > want+20*16 {
		t.Errorf("recorded bytes %v, want %v (the seconds at 16,000 bytes each plus headers)", b, want)
	}
	if int(posts.Load()) != 25 {
		t.Errorf("the webhook saw %d posts, want 25 (20 events, 5 turned away and retried)", posts.Load())
	}
	if m["botline_bot_delivery_seconds_count"] < 20 {
		t.Errorf("bot deliveries %v, want at least one per call", m["botline_bot_delivery_seconds_count"])
	}

	checkDashboard(t, m)
}

// checkDashboard checks that the example dashboard queries only metrics
// the scrape m holds.
func checkDashboard(t *testing.T, m map[string]float64) {
	t.Helper()
	dash, err := os.ReadFile(filepath.Join("..", "..", "examples", "grafana", "botline.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct{ Targets []struct{ Expr string } }
	}
	if err := json.Unmarshal(dash, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("examples/grafana/botline.json: %v", err)
	}
	served := map[string]bool{}
	for k := range m {
		name, _, _ := strings.Cut(k, "{")
		served[name] = true
	}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, name := range regexp.MustCompile(`botline_[a-z_]+`).FindAllString(tg.Expr, -1) {
				if !served[name] {
					t.Errorf("the dashboard queries %s, which /metrics does not serve", name)
				}
			}
		}
	}
}

// TestMetricsServedFromStart: a gateway without --events-url or --store
// serves the webhook and upload metrics too, at zero, so the dashboard
// and alerts never find them missing.
func TestMetricsServedFromStart(t *testing.T) {
	gw := startGateway(t, "--stt", "none", "--tts", "none")
	m := scrape(t, gw)
	for _, name := range []string{"botline_webhook_queue", `botline_webhook_posts_total{result="failed"}`, "botline_upload_queue",
		`botline_uploads_total{result="failed"}`, "botline_uploaded_bytes_total"} {
		if v, ok := m[name]; !ok || v != 0 {
			t.Errorf("%s = %v (served %v), want 0 from start", name, v, ok)
		}
	}
	checkDashboard(t, m)
}
