package speech

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/botline/botline/internal/audio"
)

func TestParseSSML(t *testing.T) {
	segs, err := Parse(`<speak version="1.0" xmlns="http://www.w3.org/2001/10/synthesis">Hello <break time="300ms"/>
		<voice name="rms">press <prosody rate="slow">one</prosody></voice><break time="9s"/><sub alias="doctor">Dr.</sub></speak>`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{
		{Text: "Hello", Rate: 1},
		{Break: 300 * time.Millisecond},
		{Text: "press", Voice: "rms", Rate: 1},
		{Text: "one", Voice: "rms", Rate: 0.75},
		{Break: MaxBreak},
		{Text: "doctor", Rate: 1},
	}
	if len(segs) != len(want) {
		t.Fatalf("segments %+v, want %+v", segs, want)
	}
	for i := range want {
		if segs[i] != want[i] {
			t.Errorf("segment %d = %+v, want %+v", i, segs[i], want[i])
		}
	}
	if segs, _ := Parse("  plain <text> "); len(segs) != 1 || segs[0].Text != "plain <text>" {
		t.Errorf("plain text: %+v", segs)
	}
	if _, err := Parse("<speak>unclosed"); err == nil {
		t.Error("malformed SSML accepted")
	}
}

// Nested <prosody rate> multiplies, but the product stays within 0.5..2:
// twenty levels of x-slow do not ask an engine for hours of audio.
func TestNestedProsodyClamped(t *testing.T) {
	for _, rate := range []string{"x-slow", "x-fast", "10%", "500%"} {
		ssml := "<speak>" + strings.Repeat(`<prosody rate="`+rate+`">`, 20) + "hello" + strings.Repeat("</prosody>", 20) + "</speak>"
		segs, err := Parse(ssml)
		if err != nil || len(segs) != 1 {
			t.Fatalf("%s: %+v %v", rate, segs, err)
		}
		if r := segs[0].Rate; r < 0.5 || r > 2 {
			t.Errorf("20 nested %s: rate %v, want within 0.5..2", rate, r)
		}
	}
}

// stuckEngine never finishes on its own.
type stuckEngine struct{}

func (stuckEngine) Synthesize(ctx context.Context, _, _ string, _ float64) ([]int16, int, error) {
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

// A prompt whose synthesis does not end is abandoned at the bound.
func TestSpeakBounded(t *testing.T) {
	defer func(d time.Duration) { maxSynthesis = d }(maxSynthesis)
	maxSynthesis = 50 * time.Millisecond
	if _, err := Speak(context.Background(), stuckEngine{}, "hello"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Speak: %v, want the synthesis deadline", err)
	}
}

func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(1, len(x))))
}

func TestDetector(t *testing.T) {
	d := NewDetector(VADConfig{KeepAudio: true})
	quiet := make([]int16, frameSamples)
	loud := audio.Sine(300, 5000, 8000, frameSamples)
	var events []VADEvent
	feed := func(f []int16, n int) {
		for range n {
			if e := d.Frame(f); e != VADNone {
				events = append(events, e)
			}
		}
	}
	feed(quiet, 20)
	feed(loud, 2) // 40 ms: a click
	feed(quiet, 50)
	feed(loud, 50) // 1 s of speech
	feed(quiet, 50)
	if len(events) != 2 || events[0] != VADStart || events[1] != VADUtterance {
		t.Fatalf("events %v, want [start utterance]", events)
	}
	u := d.Utterance()
	if sec := float64(len(u)) / 8000; sec < 1.2 || sec > 1.5 {
		t.Errorf("utterance %.2f s, want 1 s of speech + preroll and trailing silence", sec)
	}
	Release(u)
}

// Without KeepAudio (no recognizer) a caller talking without end costs no
// memory: utterances are still found (cut at Max), no frame allocates, and
// there is no audio to hand over.
func TestDetectorWithoutAudio(t *testing.T) {
	d := NewDetector(VADConfig{})
	loud := audio.Sine(300, 5000, 8000, frameSamples)
	var ends int
	allocs := testing.AllocsPerRun(2000, func() { // 40 s of tone
		if d.Frame(loud) == VADUtterance {
			ends++
		}
	})
	if allocs != 0 {
		t.Errorf("%.2f allocations per frame", allocs)
	}
	if ends < 2 {
		t.Errorf("%d utterances in 40 s of tone, want it cut every 15 s", ends)
	}
	if held := cap(d.buf); held != 0 {
		t.Errorf("holds a buffer of %d samples mid-utterance without KeepAudio", held)
	}
	if u := d.Utterance(); u != nil {
		t.Errorf("handed over %d samples without KeepAudio", len(u))
	}
}

// The default engines, as `make test` installs them: what flite says,
// pocketsphinx hears, through the 8 kHz telephone band.
func TestSpeakThenRecognize(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pcm, err := Speak(ctx, Flite{Voice: "rms"}, "<speak>I would like to check my account balance</speak>")
	if err != nil {
		t.Fatal(err)
	}
	if sec := float64(len(pcm)) / CallRate; sec < 1.5 || sec > 5 {
		t.Fatalf("prompt %.2f s long", sec)
	}
	text, err := NewPocketsphinx(1).Recognize(ctx, pcm)
	if err != nil {
		t.Fatal(err)
	}
	if text != "i would like to check my account balance" {
		t.Errorf("recognized %q, want %q", text, "i would like to check my account balance")
	}
	if _, err := Speak(ctx, Espeak{}, "hello"); err != nil {
		t.Errorf("espeak-ng: %v", err)
	}
}

// BenchmarkDetectorFrame is the VAD's cost per 20 ms frame of every call.
func BenchmarkDetectorFrame(b *testing.B) {
	d := NewDetector(VADConfig{})
	speech := audio.Sine(300, 5000, 8000, 160)
	quiet := make([]int16, 160)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		f := quiet
		if i%100 < 40 {
			f = speech
		}
		d.Frame(f)
		i++
	}
}

// BenchmarkRecognize is pocketsphinx's cost for one 2.5 s utterance.
func BenchmarkRecognize(b *testing.B) {
	pcm, err := Speak(context.Background(), Flite{Voice: "rms"}, "I would like to check my account balance")
	if err != nil {
		b.Fatal(err)
	}
	ps := NewPocketsphinx(1)
	for b.Loop() {
		if _, err := ps.Recognize(context.Background(), pcm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpeak is flite's cost for one sentence, resampled to 8 kHz.
func BenchmarkSpeak(b *testing.B) {
	for b.Loop() {
		if _, err := Speak(context.Background(), Flite{}, "Your balance is forty two dollars."); err != nil {
			b.Fatal(err)
		}
	}
}

// Flush hands over the utterance a call ended in the middle of; nothing
// when no speech is in progress, or only a click was.
func TestDetectorFlush(t *testing.T) {
	d := NewDetector(VADConfig{KeepAudio: true})
	quiet := make([]int16, frameSamples)
	loud := audio.Sine(300, 5000, 8000, frameSamples)
	if d.Flush() != nil {
		t.Fatal("Flush with nothing heard handed over audio")
	}
	for range 20 {
		d.Frame(quiet)
	}
	for range 2 { // a click: active, but too short to be speech
		d.Frame(loud)
	}
	for range 3 {
		d.Frame(loud)
	}
	d2 := NewDetector(VADConfig{KeepAudio: true})
	for range 20 {
		d2.Frame(quiet)
	}
	for range 50 { // 1 s of speech, and the call ends
		d2.Frame(loud)
	}
	u := d2.Flush()
	if sec := float64(len(u)) / 8000; sec < 0.9 || sec > 1.3 {
		t.Fatalf("flushed %.2f s, want the second of speech and its preroll", sec)
	}
	Release(u)
	if d2.Active() || d2.Flush() != nil {
		t.Fatal("a flushed detector still holds an utterance")
	}
	short := NewDetector(VADConfig{KeepAudio: true})
	for range 20 {
		short.Frame(quiet)
	}
	for range 4 {
		short.Frame(loud)
	}
	if u := short.Flush(); u != nil {
		t.Fatalf("flushed %d samples of what was too short to be speech", len(u))
	}
}
