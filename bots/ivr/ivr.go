package ivr

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/botline/botline/activity"
)

// Prompts the bot speaks.
const (
	Menu      = "For your account balance, press 1. To enter a card number, press 2. To talk to an agent, press 0. Or say something, and I will repeat it."
	Welcome   = "Welcome to botline. "
	Balance   = "Your balance is forty two dollars."
	CardAsk   = "Please key in your card number, then press pound. Recording is paused while you do."
	Transfer  = "Transferring you to an agent."
	NoAgent   = "Sorry, no agent can take your call right now."
	StillHere = "Are you still there? "
	Goodbye   = "Goodbye."
)

// Bot is the IVR bot. Its zero value works; Agent is where 0 transfers.
type Bot struct {
	Agent string // transfer target; default +18005550100
	Log   *slog.Logger

	mu    sync.Mutex
	calls map[string]*call
}

// call is one conversation's place in the menu.
type call struct {
	card     bool   // keying in a card number
	digits   []byte // the card number so far (never logged)
	silences int
}

func (b *Bot) state(id string) *call {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.calls == nil {
		b.calls = map[string]*call{}
	}
	c := b.calls[id]
	if c == nil {
		c = &call{}
		b.calls[id] = c
	}
	return c
}

// OnActivity handles one activity from the channel, replying through conn.
func (b *Bot) OnActivity(ctx context.Context, a *activity.Activity, conn activity.Sender) error {
	if a.Conversation == nil {
		return nil
	}
	log := b.Log
	if log == nil {
		log = slog.Default()
	}
	r := &reply{ctx: ctx, conn: conn, in: a}
	switch a.Type {
	case activity.TypeConversationUpdate:
		if len(a.MembersAdded) == 0 {
			return nil
		}
		b.state(a.Conversation.ID)
		r.command(activity.CommandRecordingStart)
		r.say(Welcome+Menu, activity.InputExpecting)
	case activity.TypeMessage:
		b.message(r, a)
	case activity.TypeEvent:
		switch a.Name {
		case activity.EventSilence:
			c := b.state(a.Conversation.ID)
			b.mu.Lock()
			c.silences++
			n := c.silences
			b.mu.Unlock()
			if n >= 3 {
				r.say(Goodbye, activity.InputIgnoring)
				r.send(&activity.Activity{Type: activity.TypeEndOfConversation, Code: activity.EndCompletedSuccessfully})
			} else {
				r.say(StillHere+Menu, activity.InputExpecting)
			}
		case activity.EventHandoffStatus:
			r.say(NoAgent+" "+Menu, activity.InputExpecting)
		}
	case activity.TypeEndOfConversation:
		b.mu.Lock()
		delete(b.calls, a.Conversation.ID)
		b.mu.Unlock()
	}
	if r.err != nil {
		log.Warn("ivr reply failed", "conversationId", a.Conversation.ID, "err", r.err)
	}
	return r.err
}

func (b *Bot) message(r *reply, a *activity.Activity) {
	c := b.state(a.Conversation.ID)
	b.mu.Lock()
	c.silences = 0
	card := c.card
	b.mu.Unlock()
	text := strings.TrimSpace(a.Text)
	if !a.HasEntity(activity.EntityDTMF) {
		if card {
			return // speech while keying a card number: ignored
		}
		r.say("You said: "+text+". "+Menu, activity.InputExpecting)
		return
	}
	if card {
		if text != "#" {
			b.mu.Lock()
			c.digits = append(c.digits, text...)
			b.mu.Unlock()
			return
		}
		b.mu.Lock()
		digits := string(c.digits)
		c.card, c.digits = false, nil
		b.mu.Unlock()
		r.command(activity.CommandRecordingResume)
		last := digits[max(0, len(digits)-4):]
		r.say(fmt.Sprintf("Thank you. Your card ending in %s is confirmed. %s", spell(last), Menu), activity.InputExpecting)
		return
	}
	switch text {
	case "1":
		r.say(Balance+" "+Menu, activity.InputExpecting)
	case "2":
		b.mu.Lock()
		c.card = true
		b.mu.Unlock()
		r.command(activity.CommandRecordingPause)
		r.say(CardAsk, activity.InputIgnoringSpeech)
	case "0":
		r.say(Transfer, activity.InputIgnoring)
		agent := b.Agent
		if agent == "" {
			agent = "+18005550100"
		}
		v, _ := json.Marshal(map[string]string{"TargetPhoneNumber": agent})
		r.send(&activity.Activity{Type: activity.TypeEvent, Name: activity.EventHandoffInitiate, Value: v})
	default:
		r.say("Sorry, "+spell(text)+" is not an option. "+Menu, activity.InputExpecting)
	}
}

// spell reads keys one by one: "1234" -> "1 2 3 4", "*" -> "star".
func spell(s string) string {
	var parts []string
	for _, r := range s {
		switch r {
		case '*':
			parts = append(parts, "star")
		case '#':
			parts = append(parts, "pound")
		default:
			parts = append(parts, string(r))
		}
	}
	return strings.Join(parts, " ")
}

// reply sends the bot's answers to one incoming activity, stopping at the
// first error.
type reply struct {
	ctx  context.Context
	conn activity.Sender
	in   *activity.Activity
	err  error
}

func (r *reply) send(a *activity.Activity) {
	if r.err != nil {
		return
	}
	conv := *r.in.Conversation
	a.Conversation, a.ServiceURL, a.ReplyToID = &conv, r.in.ServiceURL, r.in.ID
	_, r.err = r.conn.Send(r.ctx, a)
}

func (r *reply) say(text, hint string) {
	r.send(&activity.Activity{Type: activity.TypeMessage, Text: text, Speak: text, InputHint: hint})
}

func (r *reply) command(name string) {
	v, _ := json.Marshal(activity.CommandValue{CommandID: name[strings.LastIndexByte(name, '.')+1:] + "-" + r.in.ID})
	r.send(&activity.Activity{Type: activity.TypeCommand, Name: name, Value: v})
}
