package audio

import (
	"encoding/binary"
	"errors"
)

// HeaderSize is the size of the canonical WAV header Header writes.
const HeaderSize = 44

// ErrBadWAV is returned for audio that is not 16-bit PCM WAV.
var ErrBadWAV = errors.New("not a 16-bit PCM WAV")

// Header returns the 44-byte header of a 16-bit PCM WAV holding dataBytes
// of samples.
func Header(rate, channels int, dataBytes int64) []byte {
	h := make([]byte, HeaderSize)
	blockAlign := channels * 2
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+dataBytes))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16) // fmt chunk size
	binary.LittleEndian.PutUint16(h[20:], 1)  // PCM
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*blockAlign))
	binary.LittleEndian.PutUint16(h[32:], uint16(blockAlign))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(dataBytes))
	return h
}

// Encode returns a mono 16-bit PCM WAV file of pcm.
func Encode(pcm []int16, rate int) []byte {
	b := append(Header(rate, 1, int64(2*len(pcm))), make([]byte, 2*len(pcm))...)
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(b[HeaderSize+2*i:], uint16(s))
	}
	return b
}

// Decode reads a 16-bit PCM WAV: its samples (interleaved when stereo),
// rate and channel count. It accepts the streaming header programs write
// to pipes (data size 0 or 0xFFFFFFFF): the data then runs to the end.
func Decode(b []byte) (samples []int16, rate, channels int, err error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, 0, ErrBadWAV
	}
	var bits int
	p := 12
	for p+8 <= len(b) {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		p += 8
		switch id {
		case "fmt ":
			if p+16 > len(b) || binary.LittleEndian.Uint16(b[p:]) != 1 {
				return nil, 0, 0, ErrBadWAV
			}
			channels = int(binary.LittleEndian.Uint16(b[p+2:]))
			rate = int(binary.LittleEndian.Uint32(b[p+4:]))
			bits = int(binary.LittleEndian.Uint16(b[p+14:]))
		case "data":
			if bits != 16 || channels < 1 || rate <= 0 {
				return nil, 0, 0, ErrBadWAV
			}
			end := p + size
			if size <= 0 || end > len(b) || end < p {
				end = len(b)
			}
			data := b[p:end]
			samples = make([]int16, len(data)/(2*channels)*channels)
			for i := range samples {
				samples[i] = int16(binary.LittleEndian.Uint16(data[2*i:]))
			}
			return samples, rate, channels, nil
		}
		if size < 0 || p+size > len(b) {
			break
		}
		p += size + size&1
	}
	return nil, 0, 0, ErrBadWAV
}

// Channel returns channel ch of interleaved samples.
func Channel(samples []int16, channels, ch int) []int16 {
	if channels == 1 {
		return samples
	}
	out := make([]int16, len(samples)/channels)
	for i := range out {
		out[i] = samples[i*channels+ch]
	}
	return out
}
