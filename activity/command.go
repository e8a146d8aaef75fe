package activity

import (
	"encoding/json"
	"fmt"
)

// Telephony recording command names (activity type "command").
const (
	CommandRecordingStart  = "channel/vnd.microsoft.telephony.recording.start"
	CommandRecordingPause  = "channel/vnd.microsoft.telephony.recording.pause"
	CommandRecordingResume = "channel/vnd.microsoft.telephony.recording.resume"
	CommandRecordingStop   = "channel/vnd.microsoft.telephony.recording.stop"
)

// Error codes of a failed commandResult that are not recording states.
const (
	CodeNotSupported = "NotSupported"
	CodeBadCommand   = "BadCommand"
)

// CommandValue is the value of a command activity. Older C# helpers send
// pause and resume with no value at all; ParseCommandValue accepts both.
type CommandValue struct {
	CommandID string          `json:"commandId,omitempty"`
	Data      json.RawMessage `json:"data,omitempty"`
}

// CommandResultValue is the value of a commandResult activity.
type CommandResultValue struct {
	CommandID string          `json:"commandId"`
	Data      json.RawMessage `json:"data,omitempty"`
	Error     *Error          `json:"error,omitempty"`
}

// ParseCommandValue decodes a command's value. An absent or null value gives
// the zero CommandValue.
func ParseCommandValue(raw json.RawMessage) (CommandValue, error) {
	var v CommandValue
	if len(raw) == 0 || string(raw) == "null" {
		return v, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("command value: %w", err)
	}
	return v, nil
}

// NotSupported is the error for a command name botline does not implement.
func NotSupported(name string) *Error {
	return &Error{Code: CodeNotSupported, Message: fmt.Sprintf("Command %s is not supported", name)}
}

// NewCommandResult builds the commandResult answering the command named name
// whose channel-assigned id is replyTo. err is nil on success. The envelope
// (id, conversation, from, ...) is left to the sender.
func NewCommandResult(name, replyTo, commandID string, err *Error) *Activity {
	v, _ := json.Marshal(CommandResultValue{CommandID: commandID, Error: err})
	return &Activity{Type: TypeCommandResult, Name: name, ReplyToID: replyTo, Value: v}
}
