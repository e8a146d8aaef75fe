package audio

import (
	"math"
	"testing"
	"time"
)

func rms(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(1, len(x))))
}

// goertzel returns the amplitude of frequency f (Hz) in s sampled at rate.
func goertzel(s []int16, f, rate float64) float64 {
	k := 2 * math.Cos(2*math.Pi*f/rate)
	var s1, s2 float64
	for _, v := range s {
		s0 := float64(v) + k*s1 - s2
		s2, s1 = s1, s0
	}
	return math.Sqrt(s1*s1+s2*s2-k*s1*s2) * 2 / float64(len(s))
}

// Downsampling keeps what fits the telephone band and removes what would
// fold back into it.
func TestResample(t *testing.T) {
	in := Sine(1000, 10000, 22050, 22050)
	out := Resample(in, 22050, 8000)
	if len(out) != 8000 {
		t.Fatalf("%d samples, want 8000", len(out))
	}
	if r := rms(out[400 : len(out)-400]); math.Abs(r-7071) > 150 {
		t.Errorf("1 kHz tone RMS %.0f after resampling, want ~7071", r)
	}
	alias := Resample(Sine(6000, 10000, 22050, 22050), 22050, 8000) // would alias to 2 kHz
	if r := rms(alias[400 : len(alias)-400]); r > 70 {
		t.Errorf("6 kHz tone left RMS %.0f at 8 kHz, want < 70 (-40 dB)", r)
	}
}

// TestUpsamplerIsNotSampleDoubling upsamples a 1 kHz tone frame by frame:
// the 16 kHz output keeps the tone's amplitude, and the 7 kHz image that
// sample doubling produces is filtered out (over 50 dB down).
func TestUpsamplerIsNotSampleDoubling(t *testing.T) {
	var u Upsampler
	tone := Sine(1000, 10000, 8000, 8000)
	out := make([]int16, 320)
	var all []int16
	for f := range 50 { // 1 s, frame by frame: history must carry over
		u.Process(out, tone[f*160:(f+1)*160])
		all = append(all, out...)
	}
	all = all[320:] // skip the filter's start-up
	amp, image := goertzel(all, 1000, 16000), goertzel(all, 7000, 16000)
	if math.Abs(amp-10000) > 200 {
		t.Fatalf("1 kHz amplitude %.0f, want ~10000", amp)
	}
	if db := 20 * math.Log10(image/amp); db > -50 {
		t.Fatalf("7 kHz image at %.1f dB, want < -50 dB", db)
	}
	// Sample doubling for comparison: the image is strong.
	doubled := make([]int16, len(all))
	for i := 0; i < len(all)/2; i++ {
		doubled[2*i], doubled[2*i+1] = all[2*i], all[2*i]
	}
	if db := 20 * math.Log10(goertzel(doubled, 7000, 16000)/amp); db < -30 {
		t.Fatalf("the test cannot tell doubling apart (%.1f dB)", db)
	}
}

// A WAV goes through Encode and Decode unchanged, the header says what it
// holds, and a pipe's streaming header (size 0xFFFFFFFF) still decodes.
func TestWAVRoundTrip(t *testing.T) {
	pcm := Tone(440, 100*time.Millisecond, 8000, 8000)
	b := Encode(pcm, 8000)
	if len(b) != HeaderSize+2*len(pcm) {
		t.Fatalf("%d bytes", len(b))
	}
	got, rate, ch, err := Decode(b)
	if err != nil || rate != 8000 || ch != 1 || len(got) != len(pcm) || got[7] != pcm[7] {
		t.Fatalf("decoded %d samples at %d Hz, %d ch: %v", len(got), rate, ch, err)
	}
	b[40], b[41], b[42], b[43] = 0xff, 0xff, 0xff, 0xff
	if got, _, _, err := Decode(b); err != nil || len(got) != len(pcm) {
		t.Fatalf("streaming header: %d samples, %v", len(got), err)
	}
	if _, _, _, err := Decode([]byte("RIFF....WAVEjunk")); err == nil {
		t.Fatal("junk decoded")
	}
	stereo := []int16{1, -1, 2, -2}
	if l := Channel(stereo, 2, 0); len(l) != 2 || l[1] != 2 {
		t.Fatalf("left channel %v", l)
	}
}

func BenchmarkResample22kTo8k(b *testing.B) {
	in := Sine(440, 8000, 22050, 22050*10)
	b.SetBytes(int64(len(in) * 2))
	for b.Loop() {
		Resample(in, 22050, 8000)
	}
}

// BenchmarkUpsample is the recorder's cost per 20 ms frame of a 16 kHz file.
func BenchmarkUpsample(b *testing.B) {
	var u Upsampler
	in, out := Sine(1000, 8000, 8000, 160), make([]int16, 320)
	b.ReportAllocs()
	for b.Loop() {
		u.Process(out, in)
	}
}
