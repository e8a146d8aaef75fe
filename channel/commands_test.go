package channel

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
)

// Each recording command gets one commandResult: the command's name, the
// command's id as replyToId, its commandId echoed (or the id when it had
// none), and for a refusal the documented code and exact message.
func TestCommandResults(t *testing.T) {
	c := newCall(t, Config{})
	steps := []struct {
		name, commandID string
		code, message   string
	}{
		{activity.CommandRecordingPause, "c1", recorder.CodeNotStarted, "Recording has not started"},
		{activity.CommandRecordingStart, "c2", "", ""},
		{activity.CommandRecordingStart, "c3", recorder.CodeAlreadyInProgress, "Recording is already in progress"},
		{activity.CommandRecordingResume, "", recorder.CodeNotPaused, "Recording is not paused"},
		{activity.CommandRecordingPause, "c5", "", ""},
		{activity.CommandRecordingPause, "c6", recorder.CodeAlreadyPaused, "Recording is already paused"},
		{activity.CommandRecordingResume, "c7", "", ""},
		{activity.CommandRecordingStop, "c8", "", ""},
		{activity.CommandRecordingStop, "c9", recorder.CodeNotStarted, "Recording has not started"},
		{"channel/vnd.example.unknown", "c10", activity.CodeNotSupported, "Command channel/vnd.example.unknown is not supported"},
	}
	for _, s := range steps {
		cmd := &activity.Activity{Type: activity.TypeCommand, Name: s.name}
		if s.commandID != "" {
			cmd.Value, _ = json.Marshal(activity.CommandValue{CommandID: s.commandID})
		}
		id := c.send(t, cmd)
		a := c.bot.next(t)
		for a.Type == activity.TypeEvent && a.Name == EventFileReady {
			a = c.bot.next(t) // the stop's file-ready event
		}
		var v activity.CommandResultValue
		if a.Type != activity.TypeCommandResult || json.Unmarshal(a.Value, &v) != nil {
			t.Fatalf("%s: bot got %s %s", s.name, a.Type, a.Value)
		}
		wantID := s.commandID
		if wantID == "" {
			wantID = id
		}
		if a.Name != s.name || a.ReplyToID != id || v.CommandID != wantID {
			t.Errorf("%s: name %q replyToId %q commandId %q; want %q %q %q", s.name, a.Name, a.ReplyToID, v.CommandID, s.name, id, wantID)
		}
		switch {
		case s.code == "" && v.Error != nil:
			t.Errorf("%s (%s): refused %+v", s.name, s.commandID, *v.Error)
		case s.code != "" && (v.Error == nil || v.Error.Code != s.code || v.Error.Message != s.message):
			t.Errorf("%s (%s): error %+v, want %s %q", s.name, s.commandID, v.Error, s.code, s.message)
		}
	}
}

// A start naming an unknown layout fails with RecordingFailed and starts
// nothing.
func TestStartUnknownLayout(t *testing.T) {
	c := newCall(t, Config{})
	cmd := &activity.Activity{Type: activity.TypeCommand, Name: activity.CommandRecordingStart,
		Value: json.RawMessage(`{"commandId":"x","data":{"recordingChannelType":"surround"}}`)}
	c.send(t, cmd)
	var v activity.CommandResultValue
	if a := c.bot.next(t); json.Unmarshal(a.Value, &v) != nil || v.Error == nil || v.Error.Code != recorder.CodeFailed {
		t.Fatalf("result %s", a.Value)
	}
	if s := c.conv.rec.State(); s != recorder.Idle {
		t.Errorf("state %v after a failed start", s)
	}
}

// The Connector refuses what it cannot place: an unknown conversation, an
// activity without a type, a command whose value is not an object.
func TestSendRefusals(t *testing.T) {
	c := newCall(t, Config{})
	ctx := context.Background()
	if _, err := c.g.Send(ctx, &activity.Activity{Type: activity.TypeMessage, Conversation: &activity.ConversationAccount{ID: "nope"}}); !errors.Is(err, ErrUnknownConversation) {
		t.Errorf("unknown conversation: %v", err)
	}
	conv := &activity.ConversationAccount{ID: c.conv.id}
	if _, err := c.g.Send(ctx, &activity.Activity{Conversation: conv}); !errors.Is(err, ErrBadActivity) {
		t.Errorf("no type: %v", err)
	}
	bad := &activity.Activity{Type: activity.TypeCommand, Name: activity.CommandRecordingStart, Value: json.RawMessage(`"start"`), Conversation: conv}
	if _, err := c.g.Send(ctx, bad); !errors.Is(err, ErrBadActivity) {
		t.Errorf("command value a string: %v", err)
	}
	if s := c.conv.rec.State(); s != recorder.Idle {
		t.Errorf("state %v after refused activities", s)
	}
}
