package audio

import "math"

// The resampling filters are windowed sincs (Kaiser window, beta 8: ~80 dB
// stopband) with the cutoff at 95% of the lower rate's Nyquist frequency.
const cutoffGuard = 0.95

// Resample converts mono PCM between sample rates, low-passed so that
// downsampling (a TTS engine's 16 or 22.05 kHz to the call's 8 kHz) does
// not alias and upsampling leaves no images. It is polyphase: one set of
// taps per output phase of the rational ratio, computed once per call.
func Resample(in []int16, from, to int) []int16 {
	if from == to || len(in) == 0 || from <= 0 || to <= 0 {
		return append([]int16(nil), in...)
	}
	const halfTaps = 24 // zero crossings each side at the cutoff
	g := gcd(from, to)
	L, M := to/g, from/g // output k sits at input position k*M/L
	ratio := float64(to) / float64(from)
	cutoff := cutoffGuard * min(1, ratio) // of the input's Nyquist
	width := float64(halfTaps) / cutoff
	W := int(math.Ceil(width))
	if L > 4096 {
		L = 0 // an odd ratio: no table, taps computed per sample
	}
	taps := 2 * W
	var table []float64
	if L > 0 {
		table = make([]float64, L*taps)
		for p := range L {
			kernel(table[p*taps:(p+1)*taps], float64(p)/float64(L), cutoff, width, W)
		}
	}
	n := int(int64(len(in)) * int64(to) / int64(from))
	out := make([]int16, n)
	coef := make([]float64, taps)
	for k := range out {
		var base int
		var f []float64
		if L > 0 {
			pos := int64(k) * int64(M)
			base = int(pos / int64(L))
			f = table[int(pos%int64(L))*taps:][:taps]
		} else {
			t := float64(k) / ratio
			base = int(t)
			kernel(coef, t-float64(base), cutoff, width, W)
			f = coef
		}
		var acc float64
		lo := base - W + 1
		if lo >= 0 && lo+taps <= len(in) {
			for i, c := range f {
				acc += float64(in[lo+i]) * c
			}
		} else { // at the edges: the signal is zero outside
			for i, c := range f {
				if j := lo + i; j >= 0 && j < len(in) {
					acc += float64(in[j]) * c
				}
			}
		}
		out[k] = clamp16(acc)
	}
	return out
}

// Upsampler doubles the sample rate of a stream (8 -> 16 kHz), frame by
// frame: each input sample yields two outputs, from the two phases of the
// same windowed-sinc filter as Resample, shorter (16 taps a phase) because
// it runs on the media path. It keeps its history across frames, delays
// the signal by 8 input samples (1 ms at 8 kHz), and allocates nothing per
// frame once its buffer has grown to the frame size.
type Upsampler struct {
	buf []float32 // the last upHist input samples, then the current frame
}

const (
	upW    = 8         // taps each side of the center, per phase
	upHist = 2*upW - 1 // input samples kept between frames
)

// upPhase holds the filter's two phases: output 2n at input position n-upW
// (phase 0) and n-upW+1/2 (phase 1), oldest tap first.
var upPhase = func() (p [2][2 * upW]float32) {
	var f [2 * upW]float64
	for ph := range 2 {
		kernel(f[:], float64(ph)/2, cutoffGuard, upW, upW)
		for i, c := range f {
			p[ph][i] = float32(c)
		}
	}
	return p
}()

// Process writes 2*len(in) samples to out.
func (u *Upsampler) Process(out, in []int16) {
	if cap(u.buf) < upHist+len(in) {
		nb := make([]float32, upHist+len(in))
		copy(nb, u.buf)
		u.buf = nb
	}
	b := u.buf[:upHist+len(in)]
	for i, x := range in {
		b[upHist+i] = float32(x)
	}
	for n := range in {
		w := b[n : n+2*upW] // the window ending at in[n]
		var e, o float32
		for i, v := range w {
			e += upPhase[0][i] * v
			o += upPhase[1][i] * v
		}
		out[2*n] = clamp16(float64(e))
		out[2*n+1] = clamp16(float64(o))
	}
	copy(b, b[len(in):]) // keep the last upHist samples
}

// kernel fills f with the taps for an output frac of an input sample past
// tap W-1, normalized to unit gain.
func kernel(f []float64, frac, cutoff, width float64, W int) {
	var norm float64
	for i := range f {
		x := float64(i-W+1) - frac
		f[i] = cutoff * sinc(cutoff*x) * window(x/width)
		norm += f[i]
	}
	for i := range f {
		f[i] /= norm
	}
}

func clamp16(v float64) int16 {
	return int16(max(-32768, min(32767, math.Round(v))))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
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
