package speech

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/botline/botline/internal/audio"
)

// Flite is the default engine: CMU Flite from Debian's flite package,
// offline, with the voices it ships (kal, kal16, awb, rms, slt). Its
// 16 kHz voices are clearer on the phone than espeak-ng's formant voice.
type Flite struct {
	Path  string // default "flite"
	Voice string // default "slt"
}

// Synthesize runs flite once for the segment and reads its WAV.
func (f Flite) Synthesize(ctx context.Context, text, voice string, rate float64) ([]int16, int, error) {
	path := cmp.Or(f.Path, "flite")
	v := cmp.Or(mapVoice(voice, fliteVoices), cmp.Or(f.Voice, "slt"))
	args := []string{"-voice", v}
	if rate > 0 && rate != 1 {
		args = append(args, "--setf", "duration_stretch="+strconv.FormatFloat(1/rate, 'f', 3, 64))
	}
	args = append(args, "-t", text, "-o", "/dev/stdout")
	return runWAV(ctx, path, args)
}

// Espeak is espeak-ng from Debian's espeak-ng package, offline, with every
// language it ships (voice names as `espeak-ng --voices` lists them).
type Espeak struct {
	Path  string // default "espeak-ng"
	Voice string // default "en-us"
}

// Synthesize runs espeak-ng once for the segment and reads its WAV.
func (e Espeak) Synthesize(ctx context.Context, text, voice string, rate float64) ([]int16, int, error) {
	path := cmp.Or(e.Path, "espeak-ng")
	v := cmp.Or(voice, cmp.Or(e.Voice, "en-us"))
	if strings.ContainsAny(v, " /") || strings.HasPrefix(v, "-") {
		v = cmp.Or(e.Voice, "en-us")
	}
	wpm := 175
	if rate > 0 {
		wpm = int(175 * rate)
	}
	args := []string{"-v", v, "-s", strconv.Itoa(wpm), "--stdout", "--", text}
	return runWAV(ctx, path, args)
}

// fliteVoices maps SSML voice names to flite voices: flite's own names, and
// the gender hints bots often pass.
var fliteVoices = map[string]string{
	"slt": "slt", "kal": "kal", "kal16": "kal16", "awb": "awb", "rms": "rms",
	"female": "slt", "male": "rms",
}

func mapVoice(name string, voices map[string]string) string {
	return voices[strings.ToLower(strings.TrimSpace(name))]
}

// ttsSlots bounds the engine processes running at once, across all calls:
// a flood of prompts queues here instead of forking without end.
var ttsSlots = make(chan struct{}, 2*runtime.NumCPU())

func runWAV(ctx context.Context, path string, args []string) ([]int16, int, error) {
	select {
	case ttsSlots <- struct{}{}:
		defer func() { <-ttsSlots }()
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("%s: waiting for a synthesis slot: %w", path, ctx.Err())
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return nil, 0, fmt.Errorf("%s: %w: %s", path, err, strings.TrimSpace(errb.String()))
	}
	pcm, rate, channels, err := audio.Decode(out.Bytes())
	if err != nil {
		return nil, 0, fmt.Errorf("%s output: %w", path, err)
	}
	return audio.Channel(pcm, channels, 0), rate, nil
}

// NewEngine returns the engine named "flite" or "espeak-ng".
func NewEngine(name string) (Engine, error) {
	switch name {
	case "", "flite":
		return Flite{}, nil
	case "espeak-ng", "espeak":
		return Espeak{}, nil
	}
	return nil, fmt.Errorf("unknown TTS engine %q (flite, espeak-ng)", name)
}
