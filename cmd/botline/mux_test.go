package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/internal/caller"
)

// TestRTPMux: with --rtp-mux, 8 calls at once share the gateway's RTP
// ports (one per core): every call is told apart by its caller's address.
// Each caller sends its own tone for 3 s; each recording holds its own
// caller's tone and nobody else's, every caller receives the gateway's
// 20 ms packets with none lost, and a stranger's packets sent to the
// shared port are counted and dropped.
func TestRTPMux(t *testing.T) {
	gw := startGateway(t, "--rtp-mux", "--default-bot-call-time", "0", "--recording-notice", "none", "--tts", "none", "--stt", "none")
	const calls = 8
	type result struct {
		hz       float64
		port     uint16
		received int
		lost     int64
	}
	results := make([]result, calls)
	var wg sync.WaitGroup
	for i := range calls {
		hz := 400 + 150*float64(i)
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			phone, err := caller.NewPhone(ctx, "127.0.0.1")
			if err != nil {
				t.Error(err)
				return
			}
			call, err := phone.Dial(ctx, gw.sipAddr, fmt.Sprintf("+1425555%04d", i), "+18005550199", nil)
			if err != nil {
				t.Error(err)
				return
			}
			if err := call.SendAudio(ctx, audio.Tone(hz, 3*time.Second, 8000, 8000)); err != nil {
				t.Error(err)
			}
			results[i] = result{hz: hz, port: call.Remote.Port(), received: call.ReceivedPackets(), lost: statsLost(call)}
			call.Hangup(ctx)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	gw.waitIdle(t)

	ports := map[uint16]bool{}
	for i, r := range results {
		ports[r.port] = true
		if r.received < 140 || r.lost != 0 {
			t.Fatalf("caller %d got %d packets from the gateway in 3 s, %d lost", i, r.received, r.lost)
		}
	}
	if len(ports) > runtime.GOMAXPROCS(0) {
		t.Fatalf("8 calls on %d RTP ports; --rtp-mux shares one per core", len(ports))
	}
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != calls {
		t.Fatalf("%d recordings, want %d", len(wavs), calls)
	}
	heard := map[string]bool{}
	for _, w := range wavs {
		md := readMetadata(t, strings.TrimSuffix(w, ".wav")+".json")
		var i int
		fmt.Sscanf(md.CallerNumber, "+1425555%04d", &i)
		s := readWAV(t, w).samples
		s = s[len(s)/4 : len(s)*3/4] // the steady middle of the tone
		if got := zeroCrossings(s); math.Abs(got-results[i].hz) > 25 || rmsOf(s) < 1000 {
			t.Fatalf("caller %d's recording: %.0f Hz (RMS %.0f), its caller sent %.0f Hz", i, got, rmsOf(s), results[i].hz)
		}
		heard[md.CallerNumber] = true
	}
	if len(heard) != calls {
		t.Fatalf("recordings of %d distinct callers, want %d", len(heard), calls)
	}
	// A stranger's packets on a shared port belong to no call.
	var port uint16
	for p := range ports {
		port = p
	}
	stranger, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	for range 5 {
		stranger.Write([]byte{0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := gw.request(t, "GET", "/stats", "", "")
		var st struct{ RTPStrangers int }
		json.Unmarshal(body, &st)
		if st.RTPStrangers >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("strangers' packets not counted: %s", body)
		}
	}
	t.Logf("8 calls on %d shared RTP ports, each recording its own caller's tone", len(ports))
}

// statsLost is how many of the gateway's packets a caller missed.
func statsLost(c *caller.Call) int64 {
	st := c.Stats()
	return int64(st.Lost())
}
