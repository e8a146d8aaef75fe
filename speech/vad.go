package speech

import (
	"math"
	"time"
)

// VADConfig tunes a Detector; zero fields take the defaults.
type VADConfig struct {
	// Threshold is the frame RMS that counts as speech when the line is
	// quiet; a noisy line raises it to four times the noise floor.
	Threshold float64 // default 400 (about -38 dBFS)
	// Start is how much speech starts an utterance (and barges in).
	Start time.Duration // default 60 ms
	// End is how much silence ends an utterance.
	End time.Duration // default 700 ms
	// Max cuts an utterance that runs on (a tone, a radio).
	Max time.Duration // default 15 s
	// Min drops utterances with less speech than this (clicks, coughs).
	Min time.Duration // default 200 ms
}

const (
	frameSamples = 160 // 20 ms at 8 kHz
	frameDur     = 20 * time.Millisecond
	prerollFrame = 10 // audio kept from before speech started: 200 ms
)

func frames(d, def time.Duration) int {
	if d <= 0 {
		d = def
	}
	return max(1, int(d/frameDur))
}

// Detector segments a call's audio into utterances by energy, one 20 ms
// frame at a time. It allocates only when an utterance ends (the copy it
// hands over) and keeps its buffer across utterances.
type Detector struct {
	threshold              float64
	start, end, maxF, minF int

	noise   float64 // slow estimate of the line's noise RMS
	run     int     // consecutive speech frames while idle
	active  bool
	speechF int // speech frames in the utterance
	quiet   int // consecutive quiet frames while active
	buf     []int16
	pre     []int16 // ring of the last prerollFrame frames while idle
	prePos  int
	preFull bool
}

// NewDetector returns a Detector.
func NewDetector(cfg VADConfig) *Detector {
	th := cfg.Threshold
	if th <= 0 {
		th = 400
	}
	return &Detector{
		threshold: th,
		start:     frames(cfg.Start, 60*time.Millisecond),
		end:       frames(cfg.End, 700*time.Millisecond),
		maxF:      frames(cfg.Max, 15*time.Second),
		minF:      frames(cfg.Min, 200*time.Millisecond),
		noise:     th / 4,
		pre:       make([]int16, prerollFrame*frameSamples),
	}
}

// VADEvent is what one frame changed.
type VADEvent int

// Events of Detector.Frame.
const (
	VADNone      VADEvent = iota
	VADStart              // speech started: barge in
	VADUtterance          // an utterance ended: Utterance returns it
	VADDiscarded          // what started was too short to be speech
)

// Frame takes one 20 ms frame (160 samples at 8 kHz).
func (d *Detector) Frame(f []int16) VADEvent {
	var sum float64
	for _, s := range f {
		v := float64(s)
		sum += v * v
	}
	rms := math.Sqrt(sum / float64(max(1, len(f))))
	th := max(d.threshold, 4*d.noise)
	speech := rms > th
	if !speech { // track the floor on quiet frames only
		d.noise += (rms - d.noise) * 0.05
	}
	if !d.active {
		d.keepPreroll(f)
		if !speech {
			d.run = 0
			return VADNone
		}
		d.run++
		if d.run < d.start {
			return VADNone
		}
		d.active, d.speechF, d.quiet = true, d.run, 0
		d.buf = d.buf[:0]
		d.buf = d.appendPreroll(d.buf)
		return VADStart
	}
	d.buf = append(d.buf, f...)
	if speech {
		d.speechF++
		d.quiet = 0
	} else {
		d.quiet++
	}
	if d.quiet >= d.end || len(d.buf) >= d.maxF*frameSamples {
		d.active, d.run = false, 0
		d.prePos, d.preFull = 0, false
		if d.speechF < d.minF {
			return VADDiscarded
		}
		return VADUtterance
	}
	return VADNone
}

// Active reports whether an utterance is in progress.
func (d *Detector) Active() bool { return d.active }

// Utterance returns a copy of the utterance that just ended (with 200 ms
// before its start), trailing silence trimmed to 200 ms.
func (d *Detector) Utterance() []int16 {
	trim := max(0, d.quiet-prerollFrame) * frameSamples
	return append([]int16(nil), d.buf[:len(d.buf)-min(trim, len(d.buf))]...)
}

func (d *Detector) keepPreroll(f []int16) {
	copy(d.pre[d.prePos*frameSamples:], f)
	d.prePos++
	if d.prePos == prerollFrame {
		d.prePos, d.preFull = 0, true
	}
}

func (d *Detector) appendPreroll(b []int16) []int16 {
	if d.preFull {
		b = append(b, d.pre[d.prePos*frameSamples:]...)
	}
	return append(b, d.pre[:d.prePos*frameSamples]...)
}
