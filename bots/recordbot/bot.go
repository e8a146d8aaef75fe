package recordbot

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/botline/botline/activity"
)

// Bot is the default recording bot.
type Bot struct {
	CallTime time.Duration // hang up this long after the caller joins; 0 = never
	Log      *slog.Logger

	mu     sync.Mutex
	timers map[string]*time.Timer
}

// OnActivity handles one activity from the channel, replying through conn.
func (b *Bot) OnActivity(ctx context.Context, a *activity.Activity, conn activity.Sender) error {
	log := b.Log
	if log == nil {
		log = slog.Default()
	}
	if a.Conversation == nil {
		return nil
	}
	conv := *a.Conversation
	switch a.Type {
	case activity.TypeConversationUpdate:
		if !joined(a) {
			return nil
		}
		v, _ := json.Marshal(activity.CommandValue{CommandID: "start-" + conv.ID})
		if _, err := conn.Send(ctx, &activity.Activity{
			Type: activity.TypeCommand, Name: activity.CommandRecordingStart, Value: v,
			Conversation: &conv, ReplyToID: a.ID, ServiceURL: a.ServiceURL,
		}); err != nil {
			return err
		}
		if b.CallTime > 0 {
			b.schedule(conv.ID, func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				log.Info("recordbot ending call", "conversationId", conv.ID, "after", b.CallTime.String())
				if _, err := conn.Send(ctx, &activity.Activity{
					Type: activity.TypeEndOfConversation, Code: activity.EndCompletedSuccessfully,
					Conversation: &conv, ServiceURL: a.ServiceURL,
				}); err != nil {
					log.Warn("recordbot hang-up failed", "conversationId", conv.ID, "err", err)
				}
			})
		}
	case activity.TypeCommandResult:
		var v activity.CommandResultValue
		_ = json.Unmarshal(a.Value, &v)
		if v.Error != nil {
			log.Warn("recordbot command failed", "conversationId", conv.ID, "name", a.Name, "code", v.Error.Code, "message", v.Error.Message)
		}
	case activity.TypeEndOfConversation:
		b.cancel(conv.ID)
	}
	return nil
}

// joined reports whether someone other than the bot joined.
func joined(a *activity.Activity) bool {
	for _, m := range a.MembersAdded {
		if a.Recipient == nil || m.ID != a.Recipient.ID {
			return true
		}
	}
	return false
}

func (b *Bot) schedule(id string, f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timers == nil {
		b.timers = map[string]*time.Timer{}
	}
	b.timers[id] = time.AfterFunc(b.CallTime, func() {
		b.cancel(id)
		f()
	})
}

func (b *Bot) cancel(id string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t, ok := b.timers[id]; ok {
		t.Stop()
		delete(b.timers, id)
	}
}
