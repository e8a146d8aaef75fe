package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/bots/recordbot"
	"github.com/botline/botline/recorder"
)

// TestPolicyRecording: a call to a number in --record-policy is recorded
// from answer without any command, the caller hears the notice, the bot
// can pause and resume but not stop it, and hang-up finalizes it.
func TestPolicyRecording(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "policy.txt")
	os.WriteFile(policy, []byte("# compliance\ndialed +1800555*\ncaller +33999\n"), 0o644)
	bot := startHTTPBot(t)
	gw := startGateway(t, "--bot-endpoint", bot.url, "--record-policy", policy)
	ctx, phone, call := dial(t, gw, 30*time.Second)
	go call.SendAudio(ctx, make([]int16, 8000*20))
	up := bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	command := func(name string) *activity.Error {
		t.Helper()
		if _, err := (recordbot.HTTPConnector{}).Send(ctx, &activity.Activity{Type: activity.TypeCommand, Name: name,
			Conversation: up.a.Conversation, ServiceURL: up.a.ServiceURL}); err != nil {
			t.Fatal(err)
		}
		res := bot.next(t, activity.TypeCommandResult, 5*time.Second)
		var v activity.CommandResultValue
		json.Unmarshal(res.a.Value, &v)
		return v.Error
	}
	if e := command(activity.CommandRecordingStart); e == nil || e.Code != "RecordingAlreadyInProgress" {
		t.Fatalf("start under policy: %+v", e)
	}
	if e := command(activity.CommandRecordingStop); e == nil || e.Code != "RecordingPolicyEnforced" ||
		e.Message != "Recording is enforced by policy and cannot be stopped" {
		t.Fatalf("stop under policy: %+v", e)
	}
	if e := command(activity.CommandRecordingPause); e != nil {
		t.Fatalf("pause under policy: %+v", e)
	}
	if e := command(activity.CommandRecordingResume); e != nil {
		t.Fatalf("resume under policy: %+v", e)
	}
	time.Sleep(500 * time.Millisecond)
	if n := call.LoudPackets(); n < 15 || n > 25 {
		t.Fatalf("caller heard %d loud packets, want the ~0.4 s notice (~20)", n)
	}
	call.Hangup(ctx)
	bot.next(t, activity.TypeEndOfConversation, 10*time.Second)
	wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav"))
	if len(wavs) != 1 {
		t.Fatalf("recordings %v", wavs)
	}
	w := readWAV(t, wavs[0])
	if r := rmsOf(w.samples[:3200]); r < 2000 {
		t.Fatalf("the notice is not at the start of the recording (RMS %.0f)", r)
	}
	md := readMetadata(t, strings.TrimSuffix(wavs[0], ".wav")+".json")
	if md.EndReason != recorder.EndSessionEnded || len(md.PauseResumeIntervals) != 1 {
		t.Fatalf("metadata %+v", md)
	}

	// A call the policy does not name is not recorded.
	call2, err := phone.Dial(ctx, gw.sipAddr, "+14255550123", "+12065550100", nil)
	if err != nil {
		t.Fatal(err)
	}
	bot.next(t, activity.TypeConversationUpdate, 10*time.Second)
	call2.Hangup(ctx)
	bot.next(t, activity.TypeEndOfConversation, 10*time.Second)
	if wavs, _ := filepath.Glob(filepath.Join(gw.dir, "*.wav")); len(wavs) != 1 {
		t.Fatalf("a call outside the policy was recorded: %v", wavs)
	}
}
