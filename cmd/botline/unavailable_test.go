package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/sip/siptest"
	"github.com/emiago/sipgo"
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
		var r siptest.Referred
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
		// The gateway logs the transfer as its BYE goes out: wait for the line.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if log := gw.log.String(); strings.Contains(log, "mode=transfer") && strings.Contains(log, "call transferred by REFER") {
				break
			}
			if time.Now().After(deadline) {
				t.Error("no bot-unavailable transfer in the gateway log")
				break
			}
		}
		r.Call.Hangup(ctx)
		<-uasDone
	})
}

// With --bot-unavailable reject the call is not answered unless the bot
// takes its conversationUpdate: a dead bot gets the call refused with 503
// and Retry-After, a bot slower than --bot-answer-timeout with 480 (the
// carrier fails over), and a bot that answers gets the call, its greeting
// (sent while the call still rang) played once the call is answered.
func TestBotUnavailableReject(t *testing.T) {
	status := func(err error) (int, string) {
		var refused *sipgo.ErrDialogResponse
		if !errors.As(err, &refused) {
			t.Fatalf("call not refused: %v", err)
		}
		ra := ""
		if h := refused.Res.GetHeader("Retry-After"); h != nil {
			ra = h.Value()
		}
		return refused.Res.StatusCode, ra
	}
	dial := func(gw *gateway) (*siptest.Call, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t.Cleanup(cancel)
		p, err := siptest.NewPhone(ctx, "127.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		return p.Dial(ctx, gw.sipAddr, "+14255550123", "+18005550199", nil)
	}
	t.Run("dead bot", func(t *testing.T) {
		gw := startGateway(t, "--bot-endpoint", deadBot(t), "--stt", "none", "--tts", "none", "--bot-unavailable", "reject")
		_, err := dial(gw)
		if code, ra := status(err); code != 503 || ra == "" {
			t.Fatalf("refused with %d (Retry-After %q), want 503 with Retry-After", code, ra)
		}
		gw.waitIdle(t)
		if files, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav")); len(files) != 0 {
			t.Fatal("a refused call made a recording")
		}
	})
	t.Run("slow bot", func(t *testing.T) {
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}))
		defer slow.Close()
		gw := startGateway(t, "--bot-endpoint", slow.URL+"/api/messages", "--stt", "none", "--tts", "none",
			"--bot-unavailable", "reject", "--bot-answer-timeout", "1s")
		t0 := time.Now()
		_, err := dial(gw)
		if code, _ := status(err); code != 480 || time.Since(t0) > 4*time.Second {
			t.Fatalf("refused with %d after %s, want 480 after ~1 s", code, time.Since(t0))
		}
	})
	t.Run("live bot", func(t *testing.T) {
		bot := startHTTPBot(t)
		gw := startGateway(t, "--bot-endpoint", bot.url, "--stt", "none", "--bot-unavailable", "reject", "--recording-notice", "none")
		calls := make(chan *siptest.Call, 1)
		go func() {
			c, err := dial(gw)
			if err != nil {
				t.Error(err)
			}
			calls <- c
		}()
		up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
		// the bot greets while the call still rings
		botSay(t, gw, up.a.Conversation.ID, `{"type":"message","text":"Welcome to botline.","inputHint":"ignoringInput"}`)
		call := <-calls
		if call == nil {
			t.FailNow()
		}
		deadline := time.Now().Add(10 * time.Second)
		for call.LoudPackets() < 20 {
			if time.Now().After(deadline) {
				t.Fatalf("the greeting sent before the answer was not heard (%d loud packets)", call.LoudPackets())
			}
			time.Sleep(50 * time.Millisecond)
		}
		call.Hangup(context.Background())
		gw.waitIdle(t)
	})
}
