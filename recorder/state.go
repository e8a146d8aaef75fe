package recorder

import "fmt"

// State is the recording state of one call.
type State int

// Recording states.
const (
	Idle State = iota // no recording, or the last one was stopped
	Recording
	Paused
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Recording:
		return "recording"
	case Paused:
		return "paused"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Command is one of the four recording commands.
type Command int

// Recording commands.
const (
	Start Command = iota
	Pause
	Resume
	Stop
)

func (c Command) String() string {
	return [...]string{"start", "pause", "resume", "stop"}[c]
}

// Error codes and messages of refused commands (docs/PROTOCOL.md, 4.2). The first two
// messages are the documented ones and are kept byte-exact.
const (
	CodeAlreadyInProgress = "RecordingAlreadyInProgress"
	CodeNotStarted        = "RecordingNotStarted"
	CodeAlreadyPaused     = "RecordingAlreadyPaused"
	CodeNotPaused         = "RecordingNotPaused"
	CodeFailed            = "RecordingFailed"
)

// Error is a refused or failed recording command.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// The refusals of the state table.
var (
	ErrAlreadyInProgress = &Error{CodeAlreadyInProgress, "Recording is already in progress"}
	ErrNotStarted        = &Error{CodeNotStarted, "Recording has not started"}
	ErrAlreadyPaused     = &Error{CodeAlreadyPaused, "Recording is already paused"}
	ErrNotPaused         = &Error{CodeNotPaused, "Recording is not paused"}
)

// failed wraps an I/O failure as a RecordingFailed error.
func failed(err error) *Error {
	return &Error{CodeFailed, "Recording failed: " + err.Error()}
}

// Transition applies c to s: the state table of docs/PROTOCOL.md (4.1). It returns the
// next state, or the refusal with s unchanged.
func Transition(s State, c Command) (State, error) {
	switch s {
	case Idle:
		if c == Start {
			return Recording, nil
		}
		return Idle, ErrNotStarted
	case Recording:
		switch c {
		case Start:
			return s, ErrAlreadyInProgress
		case Pause:
			return Paused, nil
		case Resume:
			return s, ErrNotPaused
		case Stop:
			return Idle, nil
		}
	case Paused:
		switch c {
		case Start:
			return s, ErrAlreadyInProgress
		case Pause:
			return s, ErrAlreadyPaused
		case Resume:
			return Recording, nil
		case Stop:
			return Idle, nil
		}
	}
	return s, &Error{CodeFailed, fmt.Sprintf("Recording failed: unknown state %v or command %v", s, c)}
}
