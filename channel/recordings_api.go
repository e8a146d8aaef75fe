package channel

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/auth"
	"github.com/botline/botline/internal/httpjson"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/sip"
)

// EventStateChanged is the event activity a bot gets when its call's
// recording was changed through the HTTP API rather than by a command.
const EventStateChanged = "recording.stateChanged"

// recordingState is the ACS-style state of a recording.
type recordingState struct {
	RecordingID    string `json:"recordingId"`
	RecordingState string `json:"recordingState"` // active, paused, inactive
	ServerCallID   string `json:"serverCallId,omitempty"`
}

func stateName(s recorder.State) string {
	switch s {
	case recorder.Recording:
		return "active"
	case recorder.Paused:
		return "paused"
	}
	return "inactive"
}

// RegisterRecordingsAPI adds out-of-call recording control, shaped like ACS
// call recording, to mux; every route requires token when it is set:
//
//	POST   /calling/recordings                   {"serverCallId": "<SIP Call-ID>"} -> start
//	GET    /calling/recordings/{recordingId}     -> state
//	POST   /calling/recordings/{recordingId}:pause, :resume
//	DELETE /calling/recordings/{recordingId}     -> stop
//
// The state table and error messages are the commands'; a state conflict is
// 409, an unknown call or recording 404.
func (g *Gateway) RegisterRecordingsAPI(mux *http.ServeMux, token string) {
	mux.HandleFunc("POST /calling/recordings", auth.RequireBearer(token, g.apiStart))
	mux.HandleFunc("GET /calling/recordings/{recordingId}", auth.RequireBearer(token, g.apiGet))
	mux.HandleFunc("POST /calling/recordings/{action}", auth.RequireBearer(token, g.apiAction))
	mux.HandleFunc("DELETE /calling/recordings/{recordingId}", auth.RequireBearer(token, g.apiStop))
	mux.HandleFunc("GET /calls/{callId}/listen", auth.RequireBearer(token, g.serveListen))
}

// byRecording finds the live conversation that made a recording.
func (g *Gateway) byRecording(id string) *conversation {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.convs {
		if c.ended.Load() {
			continue
		}
		for _, r := range c.recordings {
			if r == id {
				return c
			}
		}
	}
	return nil
}

// byCallID finds a live conversation by its SIP Call-ID (the API's
// serverCallId): the first answered when dialogs share one.
func (g *Gateway) byCallID(callID string) *conversation {
	g.mu.Lock()
	defer g.mu.Unlock()
	var found *conversation
	for c, conv := range g.byCall {
		if c.ID == callID && (found == nil || conv.sip.Answered.Before(found.sip.Answered)) {
			found = conv
		}
	}
	return found
}

// byDialog finds the live conversation of a call.
func (g *Gateway) byDialog(c *sip.Call) *conversation {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.byCall[c]
}

func (g *Gateway) apiStart(w http.ResponseWriter, r *http.Request) {
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
	conv := g.byCallID(req.ServerCallID)
	if conv == nil {
		httpjson.Error(w, http.StatusNotFound, "CallNotFound", "no active call with that serverCallId")
		return
	}
	g.apiDo(w, conv, recorder.Start, recorder.Options{Layout: layout, PauseBehavior: pb})
}

func (g *Gateway) apiGet(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("recordingId")
	conv := g.byRecording(id)
	if conv == nil {
		httpjson.Error(w, http.StatusNotFound, "RecordingNotFound", "no recording with that id in an active call")
		return
	}
	st := conv.rec.State()
	if conv.rec.Current() != id {
		st = recorder.Idle // an earlier, stopped session of the call
	}
	httpjson.Write(w, http.StatusOK, recordingState{RecordingID: id, RecordingState: stateName(st), ServerCallID: conv.callID})
}

func (g *Gateway) apiAction(w http.ResponseWriter, r *http.Request) {
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
	g.apiOnRecording(w, id, cmd)
}

func (g *Gateway) apiStop(w http.ResponseWriter, r *http.Request) {
	g.apiOnRecording(w, r.PathValue("recordingId"), recorder.Stop)
}

func (g *Gateway) apiOnRecording(w http.ResponseWriter, id string, cmd recorder.Command) {
	conv := g.byRecording(id)
	if conv == nil {
		httpjson.Error(w, http.StatusNotFound, "RecordingNotFound", "no recording with that id in an active call")
		return
	}
	if conv.rec.Current() != id { // stopped earlier: the table's idle row
		httpjson.Error(w, http.StatusConflict, recorder.CodeNotStarted, recorder.ErrNotStarted.Message)
		return
	}
	g.apiDo(w, conv, cmd, recorder.Options{})
}

// apiDo applies cmd, answers the request and tells the bot.
func (g *Gateway) apiDo(w http.ResponseWriter, conv *conversation, cmd recorder.Command, o recorder.Options) {
	info, err := g.doRecording(conv, cmd, o)
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
	st := recordingState{RecordingID: info.RecordingID, RecordingState: stateName(conv.rec.State()), ServerCallID: conv.callID}
	v, _ := json.Marshal(st)
	conv.send(&activity.Activity{Type: activity.TypeEvent, Name: EventStateChanged, Value: v})
	httpjson.Write(w, http.StatusOK, st)
}
