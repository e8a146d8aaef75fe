package speech

import (
	"math"
	"sync"
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
	// KeepAudio keeps each utterance's audio for a recognizer (Utterance).
	// Without it the Detector only finds where utterances start and end,
	// and buffers no audio at all.
	KeepAudio bool
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
// frame at a time. With KeepAudio an utterance's audio goes into a buffer
// from a pool shared by all calls, handed over by Utterance and given back
// with Release, so a call holds audio only while its caller speaks and
// until the recognizer is done; without KeepAudio it holds none.
type Detector struct {
	threshold              float64
	start, end, maxF, minF int
	keep                   bool
	n                      int // samples in the utterance so far

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
		keep:      cfg.KeepAudio,
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
	rms := math.Sqrt(float64(energy(f)) / float64(max(1, len(f))))
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
		d.n = d.prerollLen()
		if d.keep {
			d.buf = d.appendPreroll((*utterances.Get().(*[]int16))[:0])
		}
		return VADStart
	}
	d.n += len(f)
	if d.keep {
		d.buf = append(d.buf, f...)
	}
	if speech {
		d.speechF++
		d.quiet = 0
	} else {
		d.quiet++
	}
	if d.quiet >= d.end || d.n >= d.maxF*frameSamples {
		d.active, d.run = false, 0
		d.prePos, d.preFull = 0, false
		if d.speechF < d.minF {
			Release(d.buf)
			d.buf = nil
			return VADDiscarded
		}
		return VADUtterance
	}
	return VADNone
}

// Flush ends the utterance in progress as if its speech had stopped (the
// call ended mid-word) and hands over its audio as Utterance does; nil
// when none is in progress, or what started was too short to be speech,
// or without KeepAudio.
func (d *Detector) Flush() []int16 {
	if !d.active {
		return nil
	}
	d.active, d.run = false, 0
	d.prePos, d.preFull = 0, false
	if d.speechF < d.minF || d.buf == nil {
		Release(d.buf)
		d.buf = nil
		return nil
	}
	return d.Utterance()
}

// Active reports whether an utterance is in progress.
func (d *Detector) Active() bool { return d.active }

// Utterance hands over the audio of the utterance that just ended (with
// 200 ms from before it started, without its trailing silence); nil
// without KeepAudio. Give it back with Release once recognized.
func (d *Detector) Utterance() []int16 {
	b := d.buf
	d.buf = nil
	trim := max(0, d.quiet-prerollFrame) * frameSamples
	return b[:len(b)-min(trim, len(b))]
}

// utterances pools utterance buffers across calls; a buffer starts at 2 s
// and grows to the longest utterance it held.
var utterances = sync.Pool{New: func() any {
	b := make([]int16, 0, 2*8000)
	return &b
}}

// Release gives an utterance's buffer back to the pool; pcm must not be
// used after.
func Release(pcm []int16) {
	if cap(pcm) == 0 {
		return
	}
	pcm = pcm[:0]
	utterances.Put(&pcm)
}

// prerollLen is how many samples of pre-roll the ring holds.
func (d *Detector) prerollLen() int {
	if d.preFull {
		return len(d.pre)
	}
	return d.prePos * frameSamples
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

// energy is the sum of the frame's squared samples, in integers (exact:
// a frame of 2^31 full-scale samples would still fit) over four
// accumulators, so the sums do not wait on each other.
func energy(f []int16) int64 {
	var a, b, c, d int64
	i := 0
	for ; i+4 <= len(f); i += 4 {
		x, y, z, w := int64(f[i]), int64(f[i+1]), int64(f[i+2]), int64(f[i+3])
		a += x * x
		b += y * y
		c += z * z
		d += w * w
	}
	for ; i < len(f); i++ {
		a += int64(f[i]) * int64(f[i])
	}
	return a + b + c + d
}
