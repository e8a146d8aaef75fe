package audio

import (
	"math"
	"time"
)

// Tone returns a sine tone of freq Hz lasting d at the given sample rate,
// peaking at amplitude.
func Tone(freq float64, d time.Duration, amplitude float64, rate int) []int16 {
	return Sine(freq, amplitude, rate, int(d.Seconds()*float64(rate)))
}

// Sine returns n samples of a sine tone of freq Hz at the given rate,
// peaking at amplitude.
func Sine(freq, amplitude float64, rate, n int) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amplitude * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}
