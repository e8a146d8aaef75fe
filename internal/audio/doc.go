// Package audio holds the PCM tools the gateway, its tools and its tests
// share, one copy each: sine tones (tone.go), WAV headers, encoding and
// decoding (wav.go), and windowed-sinc resampling (resample.go: a whole
// buffer between any two rates, and a streaming 2x upsampler for the
// recorder's 16 kHz files). Samples are signed 16-bit; stereo is
// interleaved.
package audio
