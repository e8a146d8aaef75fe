package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The recordings page in a real browser (Debian's chromium, headless,
// driven by chromedp): a wrong token is refused; the right one signs in
// (HttpOnly cookie); a recording made by a SIPp call, paused and resumed
// by the bot, is found by the caller's number, its waveform is drawn with
// its pause mark, it plays to the end in an audio element, and Erase
// deletes it. A screenshot goes to $BOTLINE_UI_SCREENSHOT when set.
func TestRecordingsPageInBrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: run `make test`, which installs Debian's chromium")
	}
	const token = "ui-test-token-0123456789"
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--api-token", token, "--stt", "none", "--tts", "none", "--recording-notice", "none")
	sippDone := sippCall(t, gw)
	up := bot.next(t, activity.TypeConversationUpdate, 15*time.Second)
	conv := up.a.Conversation.ID
	for _, cmd := range []string{activity.CommandRecordingStart, "", activity.CommandRecordingPause, "", activity.CommandRecordingResume} {
		if cmd == "" {
			time.Sleep(1500 * time.Millisecond) // speech recorded, then a paused stretch
			continue
		}
		botSay(t, gw, conv, `{"type":"command","name":"`+cmd+`","value":{"commandId":"`+cmd+`"}}`)
		if res := bot.next(t, activity.TypeCommandResult, 10*time.Second); res.a.Name != cmd {
			t.Fatalf("commandResult %s for %s", res.a.Name, cmd)
		}
	}
	if r := <-sippDone; r.err != nil {
		t.Fatalf("SIPp call: %v\n%s", r.err, r.out)
	}
	gw.waitIdle(t)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("%d recordings, want 1", len(wavs))
	}

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"))...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	defer cancelT()

	var loginError string
	if err := chromedp.Run(ctx,
		chromedp.Navigate(gw.httpURL+"/ui/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", "not-the-token", chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#login-error", chromedp.ByID),
		chromedp.Text("#login-error", &loginError, chromedp.ByID),
	); err != nil || !strings.Contains(loginError, "Wrong token") {
		t.Fatalf("a wrong token: %v %q", err, loginError)
	}

	var rows, pauses int
	var drawn, ended, cookieVisible bool
	var shot []byte
	err = chromedp.Run(ctx,
		chromedp.SendKeys("#token", token, chromedp.ByID),
		chromedp.Click("#signin", chromedp.ByID),
		chromedp.WaitVisible("#caller", chromedp.ByID),
		chromedp.Evaluate(`document.cookie.includes("botline_session")`, &cookieVisible),
		chromedp.SendKeys("#caller", "+14255550123", chromedp.ByID),
		chromedp.Click("#find", chromedp.ByID),
		chromedp.WaitVisible("#results tbody tr", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#results tbody tr").length`, &rows),
		chromedp.Click("#results tbody tr", chromedp.ByQuery),
		chromedp.WaitReady(`#canvas[data-drawn="true"]`, chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#wave .pause-mark").length`, &pauses),
		chromedp.Evaluate(`true`, &drawn),
		chromedp.FullScreenshot(&shot, 100), // quality 100: PNG
		chromedp.Evaluate(`new Promise((resolve) => {
			const a = document.getElementById("player");
			a.playbackRate = 4;
			a.onended = () => resolve(true);
			a.onerror = () => resolve(false);
			a.play().catch(() => resolve(false));
		})`, &ended, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }),
	)
	if err != nil {
		t.Fatal(err)
	}
	if cookieVisible {
		t.Error("the session cookie is readable from script: it must be HttpOnly")
	}
	if rows != 1 || pauses != 1 || !drawn || !ended {
		t.Fatalf("rows %d, pause marks %d, waveform drawn %v, played to the end %v; want 1, 1, true, true", rows, pauses, drawn, ended)
	}
	shotPath := filepath.Join(t.TempDir(), "recordings-page.png")
	if p := os.Getenv("BOTLINE_UI_SCREENSHOT"); p != "" {
		shotPath = p
	}
	if err := os.WriteFile(shotPath, shot, 0o644); err != nil {
		t.Fatal(err)
	}

	var gone int
	if err := chromedp.Run(ctx,
		chromedp.Evaluate(`window.confirm = () => true`, nil),
		chromedp.Click("#erase", chromedp.ByID),
		chromedp.WaitNotPresent("#results tbody tr", chromedp.ByQuery),
		chromedp.Evaluate(`document.querySelectorAll("#results tbody tr").length`, &gone),
	); err != nil {
		t.Fatal(err)
	}
	if files, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav")); len(files) != 0 || gone != 0 {
		t.Fatalf("Erase left %v on disk", files)
	}
}
