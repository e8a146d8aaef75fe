package recordingsapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/botline/botline/internal/auth"
	"github.com/botline/botline/internal/httpjson"
	"github.com/botline/botline/recorder"
)

// This file is out-of-call recording control, shaped like ACS call
// recording, and the live-listen route: what a system that is not the bot
// (a CRM, a supervisor) may do to a call in progress. The calls are the
// channel's, reached through Calls.

// Calls finds the live calls the API controls (the channel implements it).
type Calls interface {
	// ByCallID is the live call with that SIP Call-ID (the API's
	// serverCallId): the first answered when dialogs share one.
	ByCallID(callID string) (Call, bool)
	// ByRecording is the live call that made the recording.
	ByRecording(recordingID string) (Call, bool)
}

// Call is one live call as the API sees it.
type Call interface {
	// CallID is the call's SIP Call-ID.
	CallID() string
	// Recording is the id of the call's current recording session ("" if
	// none ran yet) and its state.
	Recording() (id string, st recorder.State)
	// Record applies a command as the API's: the state table and errors
	// are the bot's commands', and the bot is told of the new state. It
	// returns the recording and its state after the command.
	Record(cmd recorder.Command, o recorder.Options) (recorder.Info, recorder.State, error)
	// Listeners are the call's live listeners, fed from its media.
	Listeners() *Listeners
}

// recordingState is the ACS-style state of a recording.
type recordingState struct {
	RecordingID    string `json:"recordingId"`
	RecordingState string `json:"recordingState"` // active, paused, inactive
	ServerCallID   string `json:"serverCallId,omitempty"`
}

// StateName is the ACS name of a recording state: active, paused or
// inactive.
func StateName(s recorder.State) string {
	switch s {
	case recorder.Recording:
		return "active"
	case recorder.Paused:
		return "paused"
	}
	return "inactive"
}

// Control serves out-of-call recording control and live listening.
type Control struct {
	Calls  Calls
	Token  string // bearer token every route requires, when set
	Logger *slog.Logger
}

func (c *Control) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// Register adds the routes to mux:
//
//	POST   /calling/recordings                   {"serverCallId": "<SIP Call-ID>"} -> start
//	GET    /calling/recordings/{recordingId}     -> state
//	POST   /calling/recordings/{recordingId}:pause, :resume
//	DELETE /calling/recordings/{recordingId}     -> stop
//	GET    /calls/{callId}/listen                -> WebSocket of the call's audio
//
// The state table and error messages are the commands'; a state conflict is
// 409, an unknown call or recording 404.
func (c *Control) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /calling/recordings", auth.RequireBearer(c.Token, c.start))
	mux.HandleFunc("GET /calling/recordings/{recordingId}", auth.RequireBearer(c.Token, c.get))
	mux.HandleFunc("POST /calling/recordings/{action}", auth.RequireBearer(c.Token, c.action))
	mux.HandleFunc("DELETE /calling/recordings/{recordingId}", auth.RequireBearer(c.Token, c.stop))
	mux.HandleFunc("GET /calls/{callId}/listen", auth.RequireBearer(c.Token, c.listen))
}

func (c *Control) start(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ServerCallID         string `json:"serverCallId"`
		RecordingChannelType string `json:"recordingChannelType"`
		PauseBehavior        string `json:"pauseBehavior"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&req); err != nil || req.ServerCallID == "" {
		httpjson.Error(w, http.StatusBadRequest, "BadArgument", `body must be {"serverCallId": "<SIP Call-ID>"}`)
		return
	}
	layout, err := recorder.ParseLayout(req.RecordingChannelType)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadArgument", "recordingChannelType must be mixed or unmixed")
		return
	}
	pb, err := recorder.ParsePauseBehavior(req.PauseBehavior)
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "BadArgument", "pauseBehavior must be skip or silence")
		return
	}
	call, ok := c.Calls.ByCallID(req.ServerCallID)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "CallNotFound", "no active call with that serverCallId")
		return
	}
	do(w, call, recorder.Start, recorder.Options{Layout: layout, PauseBehavior: pb})
}

func (c *Control) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("recordingId")
	call, ok := c.Calls.ByRecording(id)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "RecordingNotFound", "no recording with that id in an active call")
		return
	}
	current, st := call.Recording()
	if current != id {
		st = recorder.Idle // an earlier, stopped session of the call
	}
	httpjson.Write(w, http.StatusOK, recordingState{RecordingID: id, RecordingState: StateName(st), ServerCallID: call.CallID()})
}

func (c *Control) action(w http.ResponseWriter, r *http.Request) {
	id, action, ok := strings.Cut(r.PathValue("action"), ":")
	var cmd recorder.Command
	switch {
	case ok && action == "pause":
		cmd = recorder.Pause
	case ok && action == "resume":
		cmd = recorder.Resume
	default:
		httpjson.Error(w, http.StatusNotFound, "NotFound", "unknown recording action")
		return
	}
	c.onRecording(w, id, cmd)
}

func (c *Control) stop(w http.ResponseWriter, r *http.Request) {
	c.onRecording(w, r.PathValue("recordingId"), recorder.Stop)
}

// onRecording applies cmd to the recording id, which must be its call's
// current one.
func (c *Control) onRecording(w http.ResponseWriter, id string, cmd recorder.Command) {
	call, ok := c.Calls.ByRecording(id)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "RecordingNotFound", "no recording with that id in an active call")
		return
	}
	if current, _ := call.Recording(); current != id { // stopped earlier: the table's idle row
		httpjson.Error(w, http.StatusConflict, recorder.CodeNotStarted, recorder.ErrNotStarted.Message)
		return
	}
	do(w, call, cmd, recorder.Options{})
}

// do applies cmd and answers the request: the new state, or the command's
// error (409 for the state table's, 500 for a recording that failed).
func do(w http.ResponseWriter, call Call, cmd recorder.Command, o recorder.Options) {
	info, st, err := call.Record(cmd, o)
	if err != nil {
		var re *recorder.Error
		status := http.StatusConflict
		if !errors.As(err, &re) || re.Code == recorder.CodeFailed {
			status = http.StatusInternalServerError
			re = &recorder.Error{Code: recorder.CodeFailed, Message: err.Error()}
		}
		httpjson.Error(w, status, re.Code, re.Message)
		return
	}
	httpjson.Write(w, http.StatusOK, recordingState{RecordingID: info.RecordingID, RecordingState: StateName(st), ServerCallID: call.CallID()})
}
