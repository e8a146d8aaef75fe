package channel

import (
	"encoding/json"
	"errors"
	"log/slog"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
)

// commandRequest is a command activity the bot sent.
type commandRequest struct {
	name  string
	id    string // channel-assigned id of the command activity
	value activity.CommandValue
}

var recordingCommands = map[string]recorder.Command{
	activity.CommandRecordingStart:  recorder.Start,
	activity.CommandRecordingPause:  recorder.Pause,
	activity.CommandRecordingResume: recorder.Resume,
	activity.CommandRecordingStop:   recorder.Stop,
}

// record applies a recording command from the bot or the HTTP API
// (o: a start's recordingChannelType, a start's or pause's pauseBehavior;
// zero for the defaults), remembering the sessions a call made so the API
// can find them. notice, if set, is played to the caller when a recording
// starts.
func (conv *conversation) record(c recorder.Command, o recorder.Options, notice []int16) (recorder.Info, error) {
	conv.mu.Lock()
	defer conv.mu.Unlock()
	if c == recorder.Stop && conv.policy {
		return recorder.Info{}, &recorder.Error{Code: CodePolicyEnforced, Message: msgPolicyEnforced}
	}
	var info recorder.Info
	var err error
	info, err = conv.rec.DoWith(c, o)
	if err == nil && c == recorder.Start {
		conv.recordings = append(conv.recordings, info.RecordingID)
		if notice != nil {
			conv.call.Play(notice, noticeTag) // the caller is told, as Teams tells PSTN callers
		}
	}
	return info, err
}

// command runs a command and queues its commandResult: name equal to the
// command's, replyToId the command's channel id, value.commandId echoed (or
// the command's id when it had none).
func (g *Gateway) command(conv *conversation, cmd commandRequest, log *slog.Logger) {
	commandID := cmd.value.CommandID
	if commandID == "" {
		commandID = cmd.id
	}
	var result *activity.Error
	if rc, ok := recordingCommands[cmd.name]; ok {
		var data struct {
			RecordingChannelType string `json:"recordingChannelType"`
			PauseBehavior        string `json:"pauseBehavior"`
		}
		if len(cmd.value.Data) > 0 {
			_ = json.Unmarshal(cmd.value.Data, &data) // other data is not ours to judge
		}
		o := recorder.Options{Layout: recorder.Layout(data.RecordingChannelType), PauseBehavior: recorder.PauseBehavior(data.PauseBehavior)}
		if rc != recorder.Start {
			o.Layout = "" // a layout is a start's alone
		}
		info, err := conv.record(rc, o, g.cfg.Notice) // an unknown layout or behaviour is RecordingFailed
		if err != nil {
			var re *recorder.Error
			if !errors.As(err, &re) {
				re = &recorder.Error{Code: recorder.CodeFailed, Message: "Recording failed: " + err.Error()}
			}
			result = &activity.Error{Code: re.Code, Message: re.Message}
			log.Info("recording command refused", "command", rc.String(), "commandId", commandID, "code", re.Code)
		} else {
			attrs := []any{"command", rc.String(), "commandId", commandID, "recordingId", info.RecordingID, "file", info.AudioPath}
			if rc == recorder.Stop {
				attrs = append(attrs, "duration", info.Duration.String())
			}
			log.Info("recording "+rc.String(), attrs...)
		}
	} else {
		result = activity.NotSupported(cmd.name)
		log.Info("command not supported", "name", cmd.name, "commandId", commandID)
	}
	conv.send(activity.NewCommandResult(cmd.name, cmd.id, commandID, result))
}
