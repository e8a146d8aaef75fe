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
	"github.com/botline/botline/sip/siptest"
)

// TestRTPMux: with --rtp-mux, 8 calls at once share the gateway's RTP
// ports (one per core). Each caller sends its own tone for 3 s; each
// recording holds its own caller's tone and nobody else's, and every caller
// receives the gateway's 20 ms packets with none lost. The callers come
// from 8 addresses (told apart by address), or all from one socket as a
// trunk or the load generator sends them (told apart by the SSRC each
// offer declares; the callers tell the gateway's streams apart by the SSRC
// its answers declare), in batches (sendmmsg). A stranger's packets sent
// to a shared port are counted and dropped. The per-call ports of the
// default mode serve callers on one socket too.
func TestRTPMux(t *testing.T) {
	for _, tc := range []struct {
		name      string
		mux, same bool
	}{
		{"callers on own ports", true, false},
		{"callers on one port", true, true},
		{"per-call gateway ports, callers on one port", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--default-bot-call-time", "0", "--recording-notice", "none", "--tts", "none", "--stt", "none"}
			if tc.mux {
				args = append(args, "--rtp-mux")
			}
			gw := startGateway(t, args...)
			results := eightCallers(t, gw, tc.same)
			if t.Failed() {
				return
			}
			checkEightRecordings(t, gw, results, tc.mux)
		})
	}
}

// muxResult is what one of eightCallers' calls saw.
type muxResult struct {
	hz       float64
	port     uint16
	received int
	lost     int64
}

// eightCallers places 8 calls at once, caller i sending a 400+150i Hz tone
// for 3 s, from sockets of their own or all from one shared socket, paced
// by one goroutine in batches.
func eightCallers(t *testing.T, gw *gateway, same bool) []muxResult {
	const calls = 8
	results := make([]muxResult, calls)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	phone, err := siptest.NewPhone(ctx, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	hz := func(i int) float64 { return 400 + 150*float64(i) }
	if !same {
		var wg sync.WaitGroup
		for i := range calls {
			wg.Go(func() {
				call, err := phone.Dial(ctx, gw.sipAddr, fmt.Sprintf("+1425555%04d", i), "+18005550199", nil)
				if err != nil {
					t.Error(err)
					return
				}
				if err := call.SendAudio(ctx, audio.Tone(hz(i), 3*time.Second, 8000, 8000)); err != nil {
					t.Error(err)
				}
				results[i] = muxResult{hz: hz(i), port: call.Remote.Port(), received: call.ReceivedPackets(), lost: statsLost(call)}
				call.Hangup(ctx)
			})
		}
		wg.Wait()
		return results
	}
	port, err := phone.NewRTPPort()
	if err != nil {
		t.Fatal(err)
	}
	defer port.Close()
	calls8 := make([]*siptest.Call, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			call, err := phone.DialVia(ctx, port, gw.sipAddr, fmt.Sprintf("+1425555%04d", i), "+18005550199", nil)
			if err != nil {
				t.Error(err)
				return
			}
			calls8[i] = call
		})
	}
	wg.Wait()
	if t.Failed() {
		return nil
	}
	tones := make([][]int16, calls)
	for i := range tones {
		tones[i] = audio.Tone(hz(i), 3*time.Second, 8000, 8000)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	for off := 0; off+160 <= len(tones[0]); off += 160 {
		for i, c := range calls8 {
			if err := port.Queue(c, tones[i][off:off+160]); err != nil {
				t.Fatal(err)
			}
		}
		if n := port.Flush(); n != calls {
			t.Fatalf("a batch of %d packets sent %d", calls, n)
		}
		<-tick.C
	}
	tick.Stop()
	for i, c := range calls8 {
		results[i] = muxResult{hz: hz(i), port: c.Remote.Port(), received: c.ReceivedPackets(), lost: statsLost(c)}
	}
	// Hanging up one call leaves the shared socket to the others.
	for i, c := range calls8 {
		c.Hangup(ctx)
		for _, o := range calls8[i+1:] {
			port.Queue(o, tones[0][:160])
		}
		if n := port.Flush(); n != calls-i-1 {
			t.Fatalf("after %d hangups a batch of %d packets sent %d", i+1, calls-i-1, n)
		}
	}
	if n := port.Strangers(); n > calls {
		t.Errorf("the callers' shared port could not place %d of the gateway's packets", n)
	}
	return results
}

// checkEightRecordings checks eightCallers' calls: every caller heard the
// gateway without loss, every recording holds its own caller's tone, and
// with --rtp-mux the calls shared the ports and a stranger is counted.
func checkEightRecordings(t *testing.T, gw *gateway, results []muxResult, mux bool) {
	const calls = 8
	gw.waitIdle(t)
	ports := map[uint16]bool{}
	for i, r := range results {
		ports[r.port] = true
		if r.received < 140 || r.lost != 0 {
			t.Fatalf("caller %d got %d packets from the gateway in 3 s, %d lost", i, r.received, r.lost)
		}
	}
	if mux && len(ports) > runtime.GOMAXPROCS(0) {
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
	if !mux {
		return
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
func statsLost(c *siptest.Call) int64 {
	st := c.Stats()
	return int64(st.Lost())
}
