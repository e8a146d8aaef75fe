package speech

import "math"

// Resample converts mono 16-bit PCM between sample rates with a
// windowed-sinc (Kaiser, beta 8) low-pass filter at the lower rate's
// Nyquist frequency, so downsampling a TTS engine's 16 or 22.05 kHz output
// to the call's 8 kHz does not alias. It works on whole prompts.
func Resample(in []int16, from, to int) []int16 {
	if from == to || len(in) == 0 {
		return append([]int16(nil), in...)
	}
	const halfTaps = 24 // zero crossings each side at the cutoff
	ratio := float64(to) / float64(from)
	cutoff := 0.95 * min(1, ratio) // of the input's Nyquist, with a guard band
	width := float64(halfTaps) / cutoff
	n := int(float64(len(in)) * ratio)
	out := make([]int16, n)
	for k := range out {
		t := float64(k) / ratio // position in input samples
		lo := int(math.Ceil(t - width))
		hi := int(math.Floor(t + width))
		var acc, norm float64
		for j := max(lo, 0); j <= hi && j < len(in); j++ {
			x := float64(j) - t
			w := window(x / width)
			s := cutoff * sinc(cutoff*x) * w
			acc += float64(in[j]) * s
			norm += s
		}
		if norm != 0 {
			acc /= norm
		}
		out[k] = int16(max(-32768, min(32767, math.Round(acc))))
	}
	return out
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// windowTable holds the Kaiser window (beta 8) on [0, 1], interpolated by
// window.
var windowTable = func() []float64 {
	const n = 4096
	t := make([]float64, n+2)
	i0 := besselI0(8)
	for i := range t {
		x := min(1, float64(i)/n)
		t[i] = besselI0(8*math.Sqrt(1-x*x)) / i0
	}
	return t
}()

// window is the Kaiser window at x in [-1, 1], 0 outside.
func window(x float64) float64 {
	x = math.Abs(x)
	if x >= 1 {
		return 0
	}
	f := x * float64(len(windowTable)-2)
	i := int(f)
	return windowTable[i] + (windowTable[i+1]-windowTable[i])*(f-float64(i))
}

// besselI0 is the modified Bessel function of the first kind, order 0.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 50; k++ {
		term *= (x / (2 * float64(k))) * (x / (2 * float64(k)))
		sum += term
		if term < 1e-12*sum {
			break
		}
	}
	return sum
}
