package recorder

import "math"

// upsampler doubles the sample rate (8 -> 16 kHz) with a 32-tap
// windowed-sinc (Blackman) interpolation filter, polyphase: each input
// sample yields two outputs, and the images that sample doubling leaves
// above the input's Nyquist frequency are filtered out. It keeps its
// history across frames and allocates nothing per frame.
type upsampler struct {
	buf []float32 // the last upHist input samples, then the current frame
}

const upHist = upTaps/2 - 1

const upTaps = 32

// upEven and upOdd are the filter's two phases, each normalized to unit gain.
var upEven, upOdd [upTaps / 2]float32

func init() {
	var h [upTaps]float64
	const center = (upTaps - 1) / 2.0
	for k := range h {
		x := (float64(k) - center) / 2
		sinc := 1.0
		if x != 0 {
			sinc = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		w := 0.42 - 0.5*math.Cos(2*math.Pi*float64(k)/(upTaps-1)) + 0.08*math.Cos(4*math.Pi*float64(k)/(upTaps-1))
		h[k] = sinc * w
	}
	var se, so float64
	for j := range upTaps / 2 {
		se += h[2*j]
		so += h[2*j+1]
	}
	for j := range upTaps / 2 {
		upEven[j] = float32(h[2*j] / se)
		upOdd[j] = float32(h[2*j+1] / so)
	}
}

// process writes 2*len(in) samples to out.
func (u *upsampler) process(out, in []int16) {
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
		w := b[n : n+upHist+1] // oldest ... newest (x[n])
		var e, o float32
		for j := range upTaps / 2 {
			v := w[upHist-j]
			e += upEven[j] * v
			o += upOdd[j] * v
		}
		out[2*n] = clamp16(e)
		out[2*n+1] = clamp16(o)
	}
	copy(b, b[len(in):]) // keep the last upHist samples
}

func clamp16(v float32) int16 {
	return int16(max(-32768, min(32767, math.Round(float64(v)))))
}
