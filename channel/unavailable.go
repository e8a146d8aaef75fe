package channel

import (
	"context"
	"log/slog"
	"time"

	"github.com/botline/botline/recorder"
)

// BotUnavailableMode says what a call gets when its bot cannot be reached.
type BotUnavailableMode string

// Bot-unavailable modes.
const (
	// UnavailablePrompt plays BotUnavailable.Prompt, then hangs up.
	UnavailablePrompt BotUnavailableMode = "prompt"
	// UnavailableTransfer transfers the call to BotUnavailable.Target
	// (the prompt, then hang-up, if that fails).
	UnavailableTransfer BotUnavailableMode = "transfer"
	// UnavailableHangup hangs up at once.
	UnavailableHangup BotUnavailableMode = "hangup"
	// UnavailableReject refuses the ringing call (503, or 480 when the
	// bot is late) so the carrier can fail over: it needs AnswerAfterBot.
	// A bot lost after the answer gets the call hung up.
	UnavailableReject BotUnavailableMode = "reject"
)

// BotUnavailable configures what a call gets when a delivery to its bot
// fails: the bot's endpoint is down, answers 5xx through the retries, or
// takes no activity within the delivery bound.
type BotUnavailable struct {
	Mode   BotUnavailableMode // default UnavailablePrompt
	Prompt []int16            // 8 kHz PCM: an apology, or a reorder tone
	Target string             // UnavailableTransfer's number
}

// unavailableTag marks the prompt in the call's play queue.
const unavailableTag = 1<<63 - 1

// botUnavailable acts once per conversation on the first failed delivery.
// The recording, if any, is finalized when the call ends, as for any
// hang-up.
func (g *Gateway) botUnavailable(conv *conversation, err error, log *slog.Logger) {
	if conv.ended.Load() || !conv.answered.Load() {
		return // while ringing, CallOffered refuses the call instead
	}
	u := g.cfg.BotUnavailable
	log.Warn("bot unavailable: the call is handled without it", "mode", string(u.Mode), "err", err)
	switch u.Mode {
	case UnavailableHangup, UnavailableReject:
		conv.hangUp(log)
	case UnavailableTransfer:
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), handoffWait)
			defer cancel()
			if err := conv.call.Transfer(ctx, u.Target); err != nil {
				log.Warn("bot unavailable: transfer failed, playing the prompt", "target", u.Target, "err", err)
				conv.unavailablePrompt(u.Prompt, log)
				return
			}
			log.Info("bot unavailable: call transferred", "target", u.Target)
			g.end(conv, "transferred to "+u.Target+" (bot unavailable)", recorder.SessionEndCallTransferred)
		}()
	default:
		conv.unavailablePrompt(u.Prompt, log)
	}
}

// unavailablePrompt queues the prompt after what is playing (a recording
// notice is never cut short), then hangs up once it has played, or was cut
// by barge-in, or after a bound.
func (conv *conversation) unavailablePrompt(p []int16, log *slog.Logger) {
	conv.call.Play(p, unavailableTag)
	go func() {
		limit := time.Now().Add(time.Duration(len(p))*time.Second/8000 + 10*time.Second)
		seen := false
		for time.Now().Before(limit) && !conv.ended.Load() {
			tag, ok := conv.call.Playing()
			if ok && tag == unavailableTag {
				seen = true
			} else if seen || !ok {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(playoutMargin) // its last frames reach the caller
		conv.hangUp(log)
	}()
}

// playoutMargin covers the frames between the prompt's end leaving the
// play queue and the caller hearing it: the jitter of ticks and network.
const playoutMargin = 200 * time.Millisecond
