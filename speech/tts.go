package speech

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/botline/botline/internal/audio"
)

// CallRate is the sample rate of a call's audio.
const CallRate = 8000

// Engine is a text-to-speech engine: one segment of plain text in a voice
// at a rate becomes mono 16-bit PCM at the rate it returns. Cloud engines
// implement it too.
type Engine interface {
	Synthesize(ctx context.Context, text, voice string, rate float64) (pcm []int16, sampleRate int, err error)
}

// MaxPrompt bounds the audio of one prompt.
const MaxPrompt = 5 * time.Minute

// maxSynthesis bounds the time one prompt may take to synthesize.
var maxSynthesis = 30 * time.Second

// Speak turns a prompt (plain text or SSML) into 8 kHz PCM ready to play:
// each text segment through the engine, resampled to 8 kHz, and each break
// as silence.
func Speak(ctx context.Context, e Engine, prompt string) ([]int16, error) {
	segs, err := Parse(prompt)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, maxSynthesis)
	defer cancel()
	var out []int16
	for _, s := range segs {
		if s.Break > 0 {
			out = append(out, make([]int16, int(s.Break.Seconds()*CallRate))...)
			continue
		}
		pcm, rate, err := e.Synthesize(ctx, s.Text, s.Voice, s.Rate)
		if err != nil {
			return nil, fmt.Errorf("synthesize %q: %w", s.Text, err)
		}
		out = append(out, audio.Resample(pcm, rate, CallRate)...)
		if len(out) > int(MaxPrompt.Seconds())*CallRate {
			return nil, errors.New("prompt longer than 5 minutes")
		}
	}
	return out, nil
}
