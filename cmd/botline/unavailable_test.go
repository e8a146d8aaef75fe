package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/internal/caller"
)

// deadBot is a bot endpoint nobody listens on: deliveries are refused.
func deadBot(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr + "/api/messages"
}

// With the bot's endpoint down the caller never hears dead air:
// prompt plays the apology (here the reorder tone: --tts none) and hangs
// up, with the policy recording finalized and holding the prompt; hangup
// ends the call at once; transfer hands the call to the target by REFER.
func TestBotUnavailable(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy")
	os.WriteFile(policy, []byte("caller *\n"), 0o600)

	t.Run("prompt", func(t *testing.T) {
		gw := startGateway(t, "--bot-endpoint", deadBot(t), "--stt", "none", "--tts", "none", "--record-policy", policy,
			"--recording-notice", "none")
		_, _, call := dial(t, gw, 30*time.Second)
		select {
		case <-call.Ended():
		case <-time.After(12 * time.Second): // 3 tries (0.6 s) + the 3 s prompt + margins
			t.Fatal("the call was not hung up after the prompt")
		}
		if loud := call.LoudPackets(); loud < 60 { // the tone is on 1.5 s of its 3 s
			t.Fatalf("the caller heard %d loud packets, want the ~75 of the reorder tone", loud)
		}
		gw.waitIdle(t)
		rec, md := onlyRecording(t, gw)
		if rmsInt16(rec) < 500 || md["endReason"] == nil {
			t.Fatalf("the policy recording: RMS %.0f, metadata %v; want it finalized with the prompt", rmsInt16(rec), md)
		}
		if !strings.Contains(gw.log.String(), "bot unavailable") {
			t.Error("no bot-unavailable line in the log")
		}
	})
	t.Run("hangup", func(t *testing.T) {
		gw := startGateway(t, "--bot-endpoint", deadBot(t), "--stt", "none", "--tts", "none", "--bot-unavailable", "hangup")
		_, _, call := dial(t, gw, 30*time.Second)
		select {
		case <-call.Ended():
		case <-time.After(8 * time.Second):
			t.Fatal("the call was not hung up")
		}
		gw.waitIdle(t)
	})
	t.Run("transfer", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		uasPort, uasDone, uasOut := startTarget(t, ctx)
		gw := startGateway(t, "--bot-endpoint", deadBot(t), "--stt", "none", "--tts", "none",
			"--bot-unavailable", "transfer", "--bot-unavailable-target", "+18005550100",
			"--outbound-proxy", fmt.Sprintf("127.0.0.1:%d", uasPort))
		_, phone, call := dial(t, gw, 60*time.Second)
		referred := phone.AcceptRefer()
		var r caller.Referred
		select {
		case r = <-referred:
			if r.Err != nil {
				t.Fatalf("the caller's call to the target: %v\n%s", r.Err, uasOut.String())
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no REFER to the unavailable target reached the caller")
		}
		select {
		case <-call.Ended():
		case <-time.After(10 * time.Second):
			t.Fatal("the gateway did not hang up its leg after the transfer")
		}
		if log := gw.log.String(); !strings.Contains(log, "mode=transfer") || !strings.Contains(log, "call transferred by REFER") {
			t.Error("no bot-unavailable transfer in the gateway log")
		}
		r.Call.Hangup(ctx)
		<-uasDone
	})
}
