package channel

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/media"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
	"github.com/botline/botline/speech"
)

// message speaks a bot's message (speak, else text), or sends its text as
// keys when it carries a DTMF entity.
func (conv *conversation) message(a *activity.Activity, id string, canSpeak bool, log *slog.Logger) {
	if a.HasEntity(activity.EntityDTMF) {
		if err := conv.call.SendDTMF(strings.TrimSpace(a.Text)); err != nil {
			log.Warn("keys not sent", "id", id, "err", err)
		} else {
			log.Info("keys sent", "id", id, "digits", a.Text)
		}
		return
	}
	text := a.Speak
	if strings.TrimSpace(text) == "" {
		text = a.Text
	}
	if strings.TrimSpace(text) == "" {
		log.Info("message with nothing to say", "id", id)
		return
	}
	if !canSpeak {
		log.Info("message not spoken: no TTS engine", "id", id)
		return
	}
	conv.voice.say(text, a.Text, a.InputHint, id)
}

// endedRetention is how long an ended conversation still accepts the bot's
// late replies before its id is unknown.
const endedRetention = time.Minute

// Config configures a Gateway.
type Config struct {
	PublicURL     string       // serviceUrl given to the bot, e.g. http://127.0.0.1:8080
	Bot           BotTransport // where activities go
	RecordingsDir string
	ResourceID    string // "resourceId" in recording metadata
	NodeTag       string // starts every id this node issues (recorder.NodeTag of its node id)
	BotID         string // recipient id of the bot; default "bot"
	Logger        *slog.Logger
	// RecordingLayout and RecordingSampleRate are the recordings' defaults:
	// "mixed" (default) or "unmixed"; 8000 (default) or 16000 Hz.
	RecordingLayout     recorder.Layout
	RecordingSampleRate int
	// RecordingPauseBehavior is what a pause leaves in the file unless the
	// command says: recorder.PauseSkip (default) or recorder.PauseSilence.
	RecordingPauseBehavior recorder.PauseBehavior
	// Recipients encrypt every recording file to these age public keys
	// (RecipientKeys: their age1... strings); none: plaintext.
	Recipients    []age.Recipient
	RecipientKeys []string
	// SIPRECBot delivers SIPREC recording sessions to Bot as conversations
	// too (it hears the first stream; nothing it plays is sent); without
	// it they involve no bot.
	SIPRECBot bool
	// EvidenceKey signs each finished recording's manifest (nil: none).
	EvidenceKey ed25519.PrivateKey
	// Store keeps finished recordings (nil: they stay in RecordingsDir).
	Store recorder.Store
	// ChunkMax and ChunkMaxBytes bound one file of a recording (0 = none).
	ChunkMax      time.Duration
	ChunkMaxBytes int64
	// Policy, if set, names the calls recorded from answer to hang-up.
	Policy *Policy
	// PolicyRequired ends a call the policy names whose recording cannot
	// start (fail closed); without it the call goes on unrecorded and the
	// bot is told.
	PolicyRequired bool
	// Notice is played to the caller whenever a recording starts (nil: none).
	Notice []int16
	// Events, if set, is given every file-ready event (for webhooks).
	Events recorder.Publisher
	// TTS speaks the bot's messages (nil: they are not spoken).
	TTS speech.Engine
	// BotUnavailable is what a call gets when a delivery to the bot fails
	// (after the transport's retries, or deliverTime): the caller never
	// hears dead air.
	BotUnavailable BotUnavailable
	// AnswerAfterBot holds the 200 OK until the bot took the call's
	// conversationUpdate, for at most BotAnswerTimeout (default 5 s); a
	// bot that fails or is late gets the call refused (CallOffered).
	AnswerAfterBot   bool
	BotAnswerTimeout time.Duration
	// STT turns caller utterances into messages (nil: speech still barges
	// in, but is not recognized).
	STT speech.Recognizer
	// VAD tunes how utterances are found in the caller's audio.
	VAD speech.VADConfig
	// SilenceTimeout sends the bot an event named "silence" when the caller
	// says and presses nothing this long after a prompt ends (0: never).
	SilenceTimeout time.Duration
	// Clock times prompts and silence (nil: the system clock).
	Clock Clock
}

// Clock is the time the gateway's voice runs on; tests give a fake one.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func())
}

// systemClock is the Clock of package time.
type systemClock struct{}

func (systemClock) Now() time.Time                      { return time.Now() }
func (systemClock) AfterFunc(d time.Duration, f func()) { time.AfterFunc(d, f) }

// EventFileReady is the name of the event activity a bot gets when one of
// its recordings is finished and downloadable.
const EventFileReady = "recording.fileReady"

// Gateway joins calls and conversations. It implements sip.Handler for the
// SIP side and serves the Connector API (Handler) for the bot.
type Gateway struct {
	cfg Config
	log *slog.Logger

	calls    registry
	live     atomic.Int64   // conversations whose call has not fully ended
	outboxes sync.WaitGroup // outboxes still delivering

	metrics // counters for /metrics (metrics.go)
}

// New returns a Gateway.
func New(cfg Config) *Gateway {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BotID == "" {
		cfg.BotID = "bot"
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	cfg.VAD.KeepAudio = cfg.STT != nil // nothing is buffered for a recognizer there is not
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/") + "/"
	g := &Gateway{cfg: cfg, log: cfg.Logger, calls: newRegistry(), metrics: newMetrics()}
	switch b := cfg.Bot.(type) {
	case *inProcess:
		b.sender = g
	case ConnectorBinder:
		b.BindConnector(g.Handler())
	}
	return g
}

// ConnectorBinder is a BotTransport that carries the bot's Connector API
// calls itself (the streaming transport): New binds it to the gateway's
// handler, so the transport exists before the gateway without a cycle.
type ConnectorBinder interface {
	BindConnector(h http.Handler)
}

// Errors of Send.
var (
	ErrUnknownConversation = errors.New("conversation not found")
	ErrBadActivity         = errors.New("invalid activity")
)

type channelData struct {
	CallID    string             `json:"callId"`
	From      string             `json:"from"`
	To        string             `json:"to"`
	Direction recorder.Direction `json:"direction"`
}

// CallAnswered opens the call's conversation and tells the bot the caller
// joined.
func (g *Gateway) CallAnswered(c *sip.Call) media.AudioSink {
	conv := g.calls.byDialog(c) // opened while ringing (AnswerAfterBot)
	if conv == nil {
		conv = g.open(c, c)
	}
	conv.answered.Store(true)
	if conv.out.unreachable() { // lost between its first delivery and the answer
		go g.botUnavailable(conv, errors.New("bot lost before the answer"), g.log.With("conversationId", conv.id, "callId", conv.callID))
	}
	return sink{rec: conv.rec, v: conv.voice, listen: &conv.listen}
}

// CallOffered answers a ringing call only once the bot took its
// conversationUpdate, with AnswerAfterBot: a bot that fails it gets the
// call refused with 503 (Retry-After), one that does not answer within
// BotAnswerTimeout with 480, so the carrier can route the call elsewhere.
func (g *Gateway) CallOffered(ctx context.Context, c *sip.Call) (int, string) {
	if !g.cfg.AnswerAfterBot {
		return 0, ""
	}
	conv := g.open(c, c)
	wait := time.NewTimer(cmp.Or(g.cfg.BotAnswerTimeout, 5*time.Second))
	defer wait.Stop()
	var code int
	var reason, why string
	select {
	case err := <-conv.out.first:
		if err == nil {
			return 0, ""
		}
		code, reason, why = 503, "Service Unavailable", "bot unavailable: "+err.Error()
	case <-wait.C:
		code, reason, why = 480, "Temporarily Unavailable", "bot did not answer in time"
	case <-ctx.Done():
		code, reason, why = 487, "Request Terminated", "caller canceled"
	}
	g.end(conv, "call not answered: "+why, recorder.SessionEndCallEnded)
	return code, reason
}

// CallDTMF hands a key press to the call's conversation.
func (g *Gateway) CallDTMF(c *sip.Call, digit byte) {
	if conv := g.calls.byDialog(c); conv != nil {
		conv.voice.push(voiceEvent{kind: evDTMF, digit: digit})
	}
}

func (g *Gateway) open(c *sip.Call, ctl callControl) *conversation {
	id := recorder.NewID(g.cfg.NodeTag)
	cd, _ := json.Marshal(channelData{CallID: c.ID, From: c.FromURI, To: c.ToURI, Direction: recorder.DirectionInbound})
	log := g.log.With("conversationId", id, "callId", c.ID)
	conv := &conversation{
		id: id, callID: c.ID, sip: c, call: ctl,
		caller:      activity.ChannelAccount{ID: c.Caller, Name: c.Caller},
		bot:         activity.ChannelAccount{ID: g.cfg.BotID, Name: c.Dialed},
		serviceURL:  g.cfg.PublicURL,
		channelData: cd,
	}
	bot, participants, direction, layout := g.cfg.Bot, []string{c.Caller, g.cfg.BotID}, recorder.DirectionInbound, g.cfg.RecordingLayout
	if c.SIPREC != nil { // a recording session: both sides of the recorded call, a bot only if asked
		participants, direction, layout = []string{c.Caller, c.Dialed}, "", recorder.LayoutUnmixed
		if !g.cfg.SIPRECBot {
			bot = discardBot
		}
	}
	conv.out = newOutbox(bot, log, &g.outboxes, func(a *activity.Activity, err error) { g.botUnavailable(conv, err, log) })
	conv.out.observe = g.observeDelivery
	conv.rec = recorder.New(recorder.Config{
		Dir: g.cfg.RecordingsDir, ResourceID: g.cfg.ResourceID, CallID: c.ID,
		ConversationID: id, Participants: participants, Logger: log,
		CallerNumber: c.Caller, DialedNumber: c.Dialed, Direction: direction,
		Layout: layout, SampleRate: g.cfg.RecordingSampleRate, PauseBehavior: g.cfg.RecordingPauseBehavior,
		NodeTag: g.cfg.NodeTag, ChunkMax: g.cfg.ChunkMax, ChunkMaxBytes: g.cfg.ChunkMaxBytes, Store: g.cfg.Store, EvidenceKey: g.cfg.EvidenceKey,
		Transcript: g.cfg.STT != nil, Recipients: g.cfg.Recipients, RecipientKeys: g.cfg.RecipientKeys,
		OnFinish: func(chunks []recorder.Metadata, end recorder.SessionEnd) { g.fileReady(conv, chunks, end, log) },
		OnFailed: func(info recorder.Info, err error) { recordingFailed(conv, err) },
	})
	conv.voice = newVoice(g, conv, log)
	g.calls.add(conv)
	g.live.Add(1)
	log.Info("conversation started", "caller", c.Caller, "dialed", c.Dialed)
	up := &activity.Activity{Type: activity.TypeConversationUpdate, MembersAdded: []activity.ChannelAccount{conv.caller}}
	conv.send(up)
	if c.SIPREC != nil {
		conv.recordSIPREC(g.cfg.Notice, log)
		return conv
	}
	g.policyRecording(conv, c, log)
	return conv
}

// discardBot takes a SIPREC session's activities: no bot is involved.
var discardBot = BotFunc(func(context.Context, *activity.Activity) error { return nil })

// recordSIPREC records a SIPREC session from answer to BYE, unmixed: the
// first stream left, the second right. It cannot be stopped (as a policy
// recording); its recvonly media sends nothing, the notice included.
func (conv *conversation) recordSIPREC(notice []int16, log *slog.Logger) {
	conv.policy = true
	info, err := conv.record(recorder.Start, recorder.Options{Layout: recorder.LayoutUnmixed}, notice)
	if err != nil {
		log.Error("SIPREC recording failed to start", "err", err)
		conv.hangUp(log.With("why", "recording failed"))
		return
	}
	log.Info("recording start", "by", "siprec", "recordingId", info.RecordingID, "file", info.AudioPath)
}

// policyRecording starts the recording a call needs by policy. The policy
// matches the Request-URI's number (where the call was routed), not the To
// header the caller wrote. A recording that cannot start is never silent:
// the bot gets recording.failed, and with PolicyRequired the call ends.
func (g *Gateway) policyRecording(conv *conversation, c *sip.Call, log *slog.Logger) {
	dialed := cmp.Or(c.Called, c.Dialed)
	if !g.cfg.Policy.Match(c.Caller, dialed) {
		return
	}
	conv.policy = true
	info, err := conv.record(recorder.Start, recorder.Options{}, g.cfg.Notice)
	if err == nil {
		log.Info("recording start", "by", "policy", "recordingId", info.RecordingID, "file", info.AudioPath)
		return
	}
	log.Error("policy recording failed to start", "err", err, "required", g.cfg.PolicyRequired)
	recordingFailed(conv, err)
	if g.cfg.PolicyRequired {
		conv.hangUp(log.With("why", "recording required by policy"))
	}
}

// recordingFailed tells the bot its call's recording failed. It never
// blocks (it runs on the media path when a write fails).
func recordingFailed(conv *conversation, err error) {
	var re *recorder.Error
	msg := "Recording failed: " + err.Error()
	if errors.As(err, &re) {
		msg = re.Message
	}
	v, _ := json.Marshal(activity.Error{Code: recorder.CodeFailed, Message: msg})
	conv.send(&activity.Activity{Type: activity.TypeEvent, Name: EventRecordingFailed, Value: v})
}

// EventRecordingFailed is the event activity a bot gets when its call's
// recording could not start (policy), or writing it started failing (a
// full disk: botline retries every second and goes on where the disk
// stopped taking it); value is
// {"code":"RecordingFailed","message":"Recording failed: <reason>"}.
const EventRecordingFailed = "recording.failed"

// CallEnded recognizes what the caller was saying as the call ended, stops
// the call's recording and ends the conversation.
func (g *Gateway) CallEnded(c *sip.Call, reason sip.EndReason) {
	if conv := g.calls.byDialog(c); conv != nil {
		if !conv.ended.Load() {
			conv.voice.finish(lastWordsWait) // the media has stopped: the detector is free
		}
		end := recorder.SessionEndCallEnded
		if reason == sip.EndTransferred {
			end = recorder.SessionEndCallTransferred
		}
		st := c.MediaStats()
		conv.rec.SetCallQuality(recorder.NewCallQuality(
			recorder.StreamQuality{Packets: st.Received, Lost: st.Lost, Late: st.Late, JitterMs: float64(st.Jitter.Microseconds()) / 1000},
			recorder.StreamQuality{Packets: st.Sent}))
		g.end(conv, reason.Text(), end)
	}
}

// end ends the conversation: reason is told to the bot, end goes in the
// recording's file-ready event.
func (g *Gateway) end(conv *conversation, reason string, end recorder.SessionEnd) {
	if conv.ended.Swap(true) {
		return
	}
	log := g.log.With("conversationId", conv.id, "callId", conv.callID)
	conv.voice.close()
	conv.listen.CloseAll()
	g.calls.callGone(conv)
	if info, had, err := conv.rec.Close(end); had {
		if err != nil {
			log.Error("recording finalized with errors", "recordingId", info.RecordingID, "file", info.AudioPath, "err", err)
		} else {
			log.Info("recording stopped", "recordingId", info.RecordingID, "file", info.AudioPath,
				"metadata", info.MetadataPath, "duration", info.Duration.String(), "by", "hangup")
		}
	}
	if !conv.hungUpByBot.Load() {
		eoc := &activity.Activity{Type: activity.TypeEndOfConversation, Code: activity.EndCompletedSuccessfully, Text: reason}
		conv.send(eoc)
	}
	conv.out.close()
	g.live.Add(-1)
	log.Info("conversation ended", "reason", reason)
	time.AfterFunc(endedRetention, func() {
		g.calls.remove(conv)
	})
}

// Recordings are the gateway's live calls as the recordings API
// (recordingsapi.Control) controls them.
func (g *Gateway) Recordings() recordingsapi.Calls { return apiCalls{g} }

// Live is the number of calls whose conversation has not fully ended.
func (g *Gateway) Live() int64 { return g.live.Load() }

// Wait returns once every ended conversation's activities were delivered to
// the bot, or when ctx ends. Call it after the SIP server stopped.
func (g *Gateway) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { g.outboxes.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("undelivered activities at shutdown: %w", ctx.Err())
	}
}

// wavHeader is the size of a finished WAV file's header.
const wavHeader = 44

// fileReady announces a finished recording to the webhooks and the bot.
func (g *Gateway) fileReady(conv *conversation, chunks []recorder.Metadata, reason recorder.SessionEnd, log *slog.Logger) {
	md := chunks[0]
	g.recordingsFinished.Add(1)
	for _, c := range chunks {
		g.recordedMs.Add(uint64(max(c.ChunkDuration, 0)))
		g.recordedBytes.Add(wavHeader + uint64(max(c.ChunkDuration, 0))*uint64(c.RecordingInfo.AudioConfiguration.BitRate)/8000)
	}
	ev := recorder.NewFileReadyEvent(chunks, reason, g.cfg.ResourceID, g.cfg.PublicURL)
	if g.cfg.Events != nil {
		if err := g.cfg.Events.Publish(ev); err != nil {
			log.Error("file-ready event not queued", "recordingId", md.RecordingID, "err", err)
		}
	}
	v, _ := json.Marshal(ev.Data)
	conv.send(&activity.Activity{Type: activity.TypeEvent, Name: EventFileReady, Value: v})
}

// Send takes one activity from the bot for its conversation (the Connector
// API's work, also called in-process by the embedded bot) and returns the
// id the channel assigned to it.
func (g *Gateway) Send(ctx context.Context, a *activity.Activity) (string, error) {
	if a.Conversation == nil || a.Conversation.ID == "" {
		return "", ErrUnknownConversation
	}
	return g.post(ctx, a.Conversation.ID, a)
}

func (g *Gateway) post(ctx context.Context, convID string, a *activity.Activity) (string, error) {
	conv := g.calls.get(convID)
	if conv == nil {
		return "", ErrUnknownConversation
	}
	if a.Type == "" {
		return "", errors.Join(ErrBadActivity, errors.New("activity has no type"))
	}
	var cmd commandRequest
	if a.Type == activity.TypeCommand {
		v, err := activity.ParseCommandValue(a.Value)
		if err != nil {
			return "", errors.Join(ErrBadActivity, err)
		}
		cmd = commandRequest{name: a.Name, value: v}
	}
	id := conv.nextID()
	log := g.log.With("conversationId", conv.id, "callId", conv.callID)
	if conv.ended.Load() {
		log.Info("activity after the call ended ignored", "type", a.Type, "name", a.Name, "id", id)
		return id, nil
	}
	switch a.Type {
	case activity.TypeCommand:
		cmd.id = id
		g.command(conv, cmd, log)
	case activity.TypeEndOfConversation:
		log.Info("bot ended the conversation", "id", id)
		conv.hungUpByBot.Store(true)
		conv.hangUp(log)
	case activity.TypeMessage:
		conv.message(a, id, g.cfg.TTS != nil, log)
	case activity.TypeEvent:
		if a.Name == activity.EventHandoffInitiate {
			go g.handoff(conv, a, id, log)
			break
		}
		log.Info("event from bot", "name", a.Name, "id", id)
	default:
		log.Info("activity from bot", "type", a.Type, "name", a.Name, "id", id)
	}
	return id, nil
}
