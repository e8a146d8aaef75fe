package main

// This file reads the flags that keep a caller from hearing dead air when
// the bot cannot be reached.

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/botline/botline/channel"
	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/speech"
)

// defaultUnavailablePrompt is spoken when the bot cannot be reached.
const defaultUnavailablePrompt = "We are sorry. We cannot take your call right now. Please try again later. Goodbye."

// unavailableOptions are the bot-unavailable flags.
type unavailableOptions struct {
	mode, prompt, target string
	answerAfterBot       bool
	answerTimeout        time.Duration
}

func (o *unavailableOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.mode, "bot-unavailable", "prompt", "what a call gets when the bot cannot be reached (down, 5xx after retries, or no answer in 15 s): prompt (play --bot-unavailable-prompt, then hang up), transfer (to --bot-unavailable-target; the prompt if that fails), hangup, or reject (do not answer: 503, or 480 if the bot is late, so the carrier fails over; implies --answer-after-bot)")
	fs.StringVar(&o.prompt, "bot-unavailable-prompt", defaultUnavailablePrompt, "text spoken by --tts (or a WAV file, 8 kHz mono 16-bit) when the bot cannot be reached; with --tts none and no WAV, a reorder tone")
	fs.BoolVar(&o.answerAfterBot, "answer-after-bot", false, "hold the 200 OK until the bot took the call's conversationUpdate (at most --bot-answer-timeout); a bot that fails or is late gets the call refused with 503 or 480 (implied by --bot-unavailable reject)")
	fs.DurationVar(&o.answerTimeout, "bot-answer-timeout", 5*time.Second, "how long --answer-after-bot lets a call ring waiting for the bot")
	fs.StringVar(&o.target, "bot-unavailable-target", "", "number calls are transferred to when the bot cannot be reached (--bot-unavailable transfer); it is added to --transfer-allow")
}

// apply sets cfg.BotUnavailable; the prompt is made once, at start.
func (o *unavailableOptions) apply(cfg *channel.Config) error {
	u := channel.BotUnavailable{Mode: channel.BotUnavailableMode(o.mode), Target: o.target}
	switch u.Mode {
	case channel.UnavailablePrompt, channel.UnavailableHangup:
	case channel.UnavailableReject:
		o.answerAfterBot = true
	case channel.UnavailableTransfer:
		if o.target == "" {
			return fmt.Errorf("--bot-unavailable transfer needs --bot-unavailable-target")
		}
	default:
		return fmt.Errorf("--bot-unavailable %q: want prompt, transfer, hangup or reject", o.mode)
	}
	switch {
	case strings.HasSuffix(strings.ToLower(o.prompt), ".wav"):
		pcm, err := loadNotice(o.prompt)
		if err != nil {
			return fmt.Errorf("--bot-unavailable-prompt: %w", err)
		}
		u.Prompt = pcm
	case cfg.TTS != nil:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		pcm, err := speech.Speak(ctx, cfg.TTS, o.prompt)
		if err != nil {
			return fmt.Errorf("--bot-unavailable-prompt: %w", err)
		}
		u.Prompt = pcm
	default:
		u.Prompt = reorderTone()
	}
	cfg.BotUnavailable = u
	cfg.AnswerAfterBot, cfg.BotAnswerTimeout = o.answerAfterBot, o.answerTimeout
	return nil
}

// reorderTone is 3 s of the North American reorder ("fast busy") signal:
// 480 + 620 Hz, 250 ms on, 250 ms off.
func reorderTone() []int16 {
	on := make([]int16, 2000)
	a, b := audio.Tone(480, 250*time.Millisecond, 4000, 8000), audio.Tone(620, 250*time.Millisecond, 4000, 8000)
	for i := range on {
		on[i] = a[i] + b[i]
	}
	var out []int16
	for range 6 {
		out = append(out, on...)
		out = append(out, make([]int16, 2000)...)
	}
	return out
}
