package recorder

import (
	"math"
	"testing"
)

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

// TestUpsamplerIsNotSampleDoubling upsamples a 1 kHz tone: the 16 kHz
// output keeps the tone's amplitude, and the 7 kHz image that sample
// doubling produces is filtered out (over 50 dB down).
func TestUpsamplerIsNotSampleDoubling(t *testing.T) {
	var u upsampler
	in := make([]int16, 160)
	out := make([]int16, 320)
	var all []int16
	for f := range 50 { // 1 s, frame by frame: history must carry over
		for i := range in {
			n := f*160 + i
			in[i] = int16(10000 * math.Sin(2*math.Pi*1000*float64(n)/8000))
		}
		u.process(out, in)
		all = append(all, out...)
	}
	all = all[320:] // skip the filter's start-up
	tone, image := goertzel(all, 1000, 16000), goertzel(all, 7000, 16000)
	if math.Abs(tone-10000) > 200 {
		t.Fatalf("1 kHz amplitude %.0f, want ~10000", tone)
	}
	if db := 20 * math.Log10(image/tone); db > -50 {
		t.Fatalf("7 kHz image at %.1f dB, want < -50 dB", db)
	}
	// Sample doubling for comparison: the image is strong.
	doubled := make([]int16, 2*len(all)/2)
	for i := 0; i < len(all)/2; i++ {
		doubled[2*i], doubled[2*i+1] = all[2*i], all[2*i]
	}
	if db := 20 * math.Log10(goertzel(doubled, 7000, 16000)/tone); db < -30 {
		t.Fatalf("the test cannot tell doubling apart (%.1f dB)", db)
	}
}

func BenchmarkUpsample(b *testing.B) {
	var u upsampler
	in, out := frame(1000), make([]int16, 320)
	b.ReportAllocs()
	for b.Loop() {
		u.process(out, in)
	}
}
