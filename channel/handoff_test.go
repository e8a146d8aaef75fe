package channel

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
)

func handoff(target string) *activity.Activity {
	v, _ := json.Marshal(map[string]string{"TargetPhoneNumber": target})
	return &activity.Activity{Type: activity.TypeEvent, Name: activity.EventHandoffInitiate, Value: v}
}

// handoffStatus reads a handoff.status event.
func handoffStatus(t *testing.T, a *activity.Activity) (state, message string) {
	t.Helper()
	var v struct{ State, Message string }
	if a.Type != activity.TypeEvent || a.Name != activity.EventHandoffStatus || json.Unmarshal(a.Value, &v) != nil {
		t.Fatalf("bot got %s %s %s, want handoff.status", a.Type, a.Name, a.Value)
	}
	return v.State, v.Message
}

// A transfer the call could not make tells the bot why, and the call and
// its recording go on.
func TestHandoffFailed(t *testing.T) {
	c := newCall(t, Config{})
	if _, err := c.conv.rec.Do(recorder.Start); err != nil {
		t.Fatal(err)
	}
	c.fake.transferErr = errors.New("REFER refused: 405 Method Not Allowed")
	c.send(t, handoff("+18005550100"))
	if got := <-c.fake.transfers; got != "+18005550100" {
		t.Errorf("transferred to %q", got)
	}
	if state, msg := handoffStatus(t, c.bot.next(t)); state != "failed" || msg != "REFER refused: 405 Method Not Allowed" {
		t.Errorf("handoff.status %s %q", state, msg)
	}
	if c.conv.ended.Load() || c.conv.rec.State() != recorder.Recording {
		t.Errorf("after a failed transfer: ended %v, recording %v", c.conv.ended.Load(), c.conv.rec.State())
	}
}

// handoff.initiate without a target fails without touching the call.
func TestHandoffNoTarget(t *testing.T) {
	c := newCall(t, Config{})
	c.send(t, handoff(" "))
	if state, msg := handoffStatus(t, c.bot.next(t)); state != "failed" || msg != "handoff.initiate needs value.TargetPhoneNumber" {
		t.Errorf("handoff.status %s %q", state, msg)
	}
	select {
	case target := <-c.fake.transfers:
		t.Errorf("transferred to %q", target)
	default:
	}
}

// A transfer that succeeded ends the conversation: the bot gets the
// recording's file-ready event (CallTransferred) and endOfConversation,
// and the gateway does not hang up the call itself.
func TestHandoffSucceeded(t *testing.T) {
	c := newCall(t, Config{})
	if _, err := c.conv.rec.Do(recorder.Start); err != nil {
		t.Fatal(err)
	}
	c.send(t, handoff("+18005550100"))
	a := c.bot.next(t)
	var data recorder.FileReadyData
	if a.Name != EventFileReady || json.Unmarshal(a.Value, &data) != nil || data.SessionEndReason != recorder.SessionEndCallTransferred {
		t.Fatalf("bot got %s %s %s, want recording.fileReady CallTransferred", a.Type, a.Name, a.Value)
	}
	if a := c.bot.next(t); a.Type != activity.TypeEndOfConversation || a.Text != "transferred to +18005550100" {
		t.Fatalf("bot got %s %q, want endOfConversation", a.Type, a.Text)
	}
	select {
	case <-c.fake.hangups:
		t.Error("the gateway hung up a transferred call")
	default:
	}
}
