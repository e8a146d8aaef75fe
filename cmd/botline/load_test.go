package main

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCapacitySmoke runs botline-load (50 concurrent recorded calls for
// 10 s) against the binary with the embedded bot recording every call. It
// fails on any failed call or on loss+late above 0.1% in either direction;
// it asserts no timing.
func TestCapacitySmoke(t *testing.T) {
	load := filepath.Join(t.TempDir(), "botline-load")
	if out, err := exec.Command("go", "build", "-o", load, "../botline-load").CombinedOutput(); err != nil {
		t.Fatalf("build botline-load: %v\n%s", err, out)
	}
	// The generator sends every call of a sender from one socket, in
	// batches: per-call gateway ports and shared ones (--rtp-mux, told
	// apart by the SSRC each offer declares) both serve it.
	for _, mode := range []string{"per-call ports", "--rtp-mux"} {
		t.Run(mode, func(t *testing.T) { capacitySmoke(t, load, mode == "--rtp-mux") })
	}
}

func capacitySmoke(t *testing.T, load string, mux bool) {
	// one source places every call: the per-source INVITE limit is for
	// scanners, not for a trunk or this generator
	args := []string{"--default-bot-call-time", "0", "--stt", "none", "--sip-invite-rate", "0"}
	if mux {
		args = append(args, "--rtp-mux")
	}
	gw := startGateway(t, args...)
	out, err := exec.Command(load, "--target", gw.sipAddr, "--calls", "50", "--concurrency", "50", "--rate", "50",
		"--hold", "10s", "--dtmf", "1", "--json", "--gateway-stats", gw.httpURL+"/stats").Output()
	if err != nil && len(out) == 0 {
		t.Fatalf("botline-load: %v", err)
	}
	var rep struct {
		Answered, Failed     int
		Errors               map[string]int
		TxSkippedPct         float64
		RxExpected           uint64
		RxLossPct, RxLatePct float64
		Gateway              struct {
			Calls            uint64
			RTPReceived      uint64
			LossPct, LatePct float64
		}
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report %s: %v", out, err)
	}
	t.Logf("report: %s", out)
	if rep.Answered != 50 || rep.Failed != 0 {
		t.Fatalf("answered %d, failed %d: %v", rep.Answered, rep.Failed, rep.Errors)
	}
	// No packet may be lost; a few may be late when the race detector and
	// a busy shared machine delay the sender (the capacity table measures
	// lateness properly, in benchmarks).
	if rep.TxSkippedPct > 1 {
		t.Fatalf("the generator could not send %.2f%% of its packets", rep.TxSkippedPct)
	}
	if rep.RxExpected < 50*400 || rep.RxLossPct > 0.1 || rep.RxLatePct > 2 {
		t.Fatalf("from gateway: %d packets, loss %.3f%% late %.3f%%", rep.RxExpected, rep.RxLossPct, rep.RxLatePct)
	}
	if rep.Gateway.Calls != 50 || rep.Gateway.RTPReceived < 50*400 || rep.Gateway.LossPct > 0.1 || rep.Gateway.LatePct > 5 {
		t.Fatalf("to gateway: %+v", rep.Gateway)
	}
	gw.waitIdle(t)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 50 {
		t.Fatalf("%d recordings, want 50", len(wavs))
	}
	if w := readWAV(t, wavs[0]); w.duration < 9e9 {
		t.Fatalf("recording lasts %v, want ~10 s", w.duration)
	}
}
