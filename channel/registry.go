package channel

import (
	"sync"

	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
)

// registry holds the gateway's conversations: by id while any part of them
// lives (the Connector API), and by their call while the call is up.
type registry struct {
	mu    sync.Mutex
	convs map[string]*conversation
	// byCall holds the live conversations by their call (a SIP dialog:
	// two dialogs may share a Call-ID, forked or forged).
	byCall map[*sip.Call]*conversation
}

func newRegistry() registry {
	return registry{convs: map[string]*conversation{}, byCall: map[*sip.Call]*conversation{}}
}

func (r *registry) add(conv *conversation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.convs[conv.id] = conv
	r.byCall[conv.sip] = conv
}

// callGone forgets the conversation's call: it is no longer live.
func (r *registry) callGone(conv *conversation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.byCall, conv.sip)
}

// remove forgets the conversation.
func (r *registry) remove(conv *conversation) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.convs, conv.id)
}

// get finds a conversation by id.
func (r *registry) get(id string) *conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.convs[id]
}

// byDialog finds the live conversation of a call.
func (r *registry) byDialog(c *sip.Call) *conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byCall[c]
}

// live returns the conversations whose call is up.
func (r *registry) live() []*conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*conversation, 0, len(r.byCall))
	for _, c := range r.byCall {
		out = append(out, c)
	}
	return out
}

// byCallID finds a live conversation by its SIP Call-ID: the first
// answered when dialogs share one.
func (r *registry) byCallID(callID string) *conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	var found *conversation
	for c, conv := range r.byCall {
		if c.ID == callID && (found == nil || conv.sip.Answered.Before(found.sip.Answered)) {
			found = conv
		}
	}
	return found
}

// byRecording finds the live conversation that made a recording.
func (r *registry) byRecording(id string) *conversation {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.convs {
		if c.ended.Load() {
			continue
		}
		for _, rec := range c.recordingIDs() {
			if rec == id {
				return c
			}
		}
	}
	return nil
}

// apiCalls are the gateway's calls as the recordings API controls them.
type apiCalls struct{ g *Gateway }

func (a apiCalls) ByCallID(callID string) (recordingsapi.Call, bool) {
	conv := a.g.calls.byCallID(callID)
	return apiCall{a.g, conv}, conv != nil
}

func (a apiCalls) ByRecording(id string) (recordingsapi.Call, bool) {
	conv := a.g.calls.byRecording(id)
	return apiCall{a.g, conv}, conv != nil
}

// apiCall is one conversation's call as the recordings API controls it.
type apiCall struct {
	g    *Gateway
	conv *conversation
}

func (c apiCall) CallID() string                      { return c.conv.callID }
func (c apiCall) Listeners() *recordingsapi.Listeners { return &c.conv.listen }

func (c apiCall) Recording() (string, recorder.State) {
	return c.conv.rec.Current(), c.conv.rec.State()
}

// Record applies the API's command and tells the bot the new state
// (EventStateChanged).
func (c apiCall) Record(cmd recorder.Command, o recorder.Options) (recorder.Info, recorder.State, error) {
	info, err := c.conv.record(cmd, o, c.g.cfg.Notice)
	if err != nil {
		return info, 0, err
	}
	st := c.conv.rec.State()
	c.conv.sendEvent(EventStateChanged, recordingStateChanged{RecordingID: info.RecordingID,
		RecordingState: recordingsapi.StateName(st), ServerCallID: c.conv.callID})
	return info, st, nil
}

// EventStateChanged is the event activity a bot gets when its call's
// recording was changed through the HTTP API rather than by a command.
const EventStateChanged = "recording.stateChanged"

// recordingStateChanged is EventStateChanged's value.
type recordingStateChanged struct {
	RecordingID    string `json:"recordingId"`
	RecordingState string `json:"recordingState"` // active, paused, inactive
	ServerCallID   string `json:"serverCallId,omitempty"`
}
