package speech

import (
	"encoding/binary"
	"errors"
)

// ErrBadWAV is returned for audio that is not 16-bit PCM WAV.
var ErrBadWAV = errors.New("not a 16-bit PCM WAV")

// decodeWAV reads a mono or stereo (left channel kept) 16-bit PCM WAV. It
// accepts the streaming header engines write to pipes (sizes 0 or
// 0xFFFFFFFF): the data runs to the end.
func decodeWAV(b []byte) ([]int16, int, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, 0, ErrBadWAV
	}
	var rate, channels, bits int
	p := 12
	for p+8 <= len(b) {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:p+8]))
		p += 8
		switch id {
		case "fmt ":
			if p+16 > len(b) {
				return nil, 0, ErrBadWAV
			}
			if binary.LittleEndian.Uint16(b[p:]) != 1 {
				return nil, 0, ErrBadWAV
			}
			channels = int(binary.LittleEndian.Uint16(b[p+2:]))
			rate = int(binary.LittleEndian.Uint32(b[p+4:]))
			bits = int(binary.LittleEndian.Uint16(b[p+14:]))
		case "data":
			if bits != 16 || channels < 1 || rate <= 0 {
				return nil, 0, ErrBadWAV
			}
			end := p + size
			if size <= 0 || end > len(b) || end < p {
				end = len(b)
			}
			data := b[p:end]
			frame := 2 * channels
			out := make([]int16, len(data)/frame)
			for i := range out {
				out[i] = int16(binary.LittleEndian.Uint16(data[i*frame:]))
			}
			return out, rate, nil
		}
		if size < 0 || p+size > len(b) {
			break
		}
		p += size + size&1
	}
	return nil, 0, ErrBadWAV
}
