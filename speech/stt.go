package speech

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/botline/botline/internal/audio"
)

// Recognizer turns one utterance (8 kHz PCM) into text; "" when nothing
// was recognized. Cloud engines implement it too.
type Recognizer interface {
	Recognize(ctx context.Context, pcm []int16) (string, error)
}

// Pocketsphinx is the default recognizer: CMU pocketsphinx from Debian's
// pocketsphinx and pocketsphinx-en-us packages, offline, run once per
// utterance (the model load costs about a second of CPU). At most
// Parallel utterances are decoded at once; more wait their turn.
type Pocketsphinx struct {
	Path string   // default "pocketsphinx_continuous"
	Args []string // extra arguments, e.g. -hmm, -lm, -dict for another model
	sem  chan struct{}
}

// NewPocketsphinx returns a recognizer decoding up to parallel utterances
// at once (0 = one per core).
func NewPocketsphinx(parallel int) *Pocketsphinx {
	if parallel <= 0 {
		parallel = runtime.NumCPU()
	}
	return &Pocketsphinx{Path: "pocketsphinx_continuous", sem: make(chan struct{}, parallel)}
}

// Recognize decodes the utterance. The telephone band (up to 4 kHz) is
// upsampled to the 16 kHz model with a low noise floor above 4 kHz: the
// en-us model was trained on wideband speech, and an empty upper band
// costs it most of its words.
func (p *Pocketsphinx) Recognize(ctx context.Context, pcm []int16) (string, error) {
	select {
	case p.sem <- struct{}{}:
		defer func() { <-p.sem }()
	case <-ctx.Done():
		return "", ctx.Err()
	}
	f, err := os.CreateTemp("", "botline-stt-*.wav")
	if err != nil {
		return "", fmt.Errorf("stt temp file: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.Write(audio.Encode(Widen(pcm), 16000))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("stt temp file: %w", err)
	}
	args := append([]string{"-infile", f.Name(), "-logfn", os.DevNull}, p.Args...)
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, p.Path, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", p.Path, err, strings.TrimSpace(errb.String()))
	}
	return strings.Join(strings.Fields(out.String()), " "), nil
}

// Widen upsamples telephone audio to 16 kHz and fills the band above 4 kHz
// with low, fixed-seed noise (about -45 dBFS).
func Widen(pcm []int16) []int16 {
	wide := audio.Resample(pcm, CallRate, 16000)
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, len(pcm))
	for i := range noise {
		noise[i] = int16(rng.IntN(601) - 300)
	}
	hi := audio.Resample(noise, CallRate, 16000) // 0..3.8 kHz
	for i := range wide {
		v := int32(hi[min(i, len(hi)-1)])
		if i&1 == 1 {
			v = -v // shifted by 8 kHz: now 4.2..8 kHz
		}
		wide[i] = int16(max(-32768, min(32767, int32(wide[i])+v)))
	}
	return wide
}
