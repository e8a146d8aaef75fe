package channel

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
)

// callControl is what a conversation needs of its call.
type callControl interface {
	Hangup(ctx context.Context) error
	Play(samples []int16, tag uint64)
	Playing() (tag uint64, ok bool)
	StopPlayback() int
	SendDTMF(digits string) error
	Transfer(ctx context.Context, target string) error
}

// conversation is one call seen as a Bot Framework conversation.
type conversation struct {
	id          string
	callID      string
	sip         *sip.Call // the SIP dialog it is the conversation of
	call        callControl
	rec         *recorder.Recorder
	caller, bot activity.ChannelAccount
	serviceURL  string
	channelData json.RawMessage
	out         *outbox
	voice       *voice
	listen      recordingsapi.Listeners // live listeners of the call's audio

	mu         sync.Mutex
	recordings []string // ids of the recording sessions of this call
	policy     bool     // recorded by policy: it cannot be stopped

	seq         atomic.Uint64
	ended       atomic.Bool
	hungUpByBot atomic.Bool
	answered    atomic.Bool // the call was answered (it may be opened while ringing)
}

// nextID returns a new channel-assigned activity id, "<conversation>-0001".
func (c *conversation) nextID() string {
	return fmt.Sprintf("%s-%04d", c.id, c.seq.Add(1))
}

// newActivity returns an activity from the caller to the bot with the full
// envelope of docs/PROTOCOL.md, section 2.
func (c *conversation) newActivity(typ string) *activity.Activity {
	caller, bot := c.caller, c.bot
	return &activity.Activity{
		Type:         typ,
		ID:           c.nextID(),
		Timestamp:    time.Now().UTC().Format("2006-01-02T15:04:05.000Z"),
		ServiceURL:   c.serviceURL,
		ChannelID:    activity.ChannelID,
		From:         &caller,
		Recipient:    &bot,
		Conversation: &activity.ConversationAccount{ID: c.id},
		ChannelData:  c.channelData,
	}
}

// recordingIDs are the ids of the recording sessions the call made.
func (c *conversation) recordingIDs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.recordings
}

// sendEvent queues an event activity named name with value v.
func (c *conversation) sendEvent(name string, v any) {
	b, _ := json.Marshal(v)
	c.send(&activity.Activity{Type: activity.TypeEvent, Name: name, Value: b})
}

// send queues an activity for the bot, filling in the envelope.
func (c *conversation) send(a *activity.Activity) {
	env := c.newActivity(a.Type)
	a.ID, a.Timestamp, a.ServiceURL, a.ChannelID = env.ID, env.Timestamp, env.ServiceURL, env.ChannelID
	a.From, a.Recipient, a.Conversation, a.ChannelData = env.From, env.Recipient, env.Conversation, env.ChannelData
	c.out.push(a)
}

// hangUp hangs up the call in the background (within 10 s), so the
// caller's request returns at once.
func (c *conversation) hangUp(log *slog.Logger) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.call.Hangup(ctx); err != nil {
			log.Warn("hang-up failed", "err", err)
		}
	}()
}
