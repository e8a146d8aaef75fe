package media

import "github.com/zaf/g711"

// FrameSize is the samples in one 20 ms frame at 8 kHz.
const FrameSize = 160

// Codec is a G.711 variant negotiated for a call.
type Codec struct {
	Name        string // "PCMU" or "PCMA"
	PayloadType uint8
	decode      *[256]int16
	encode      func(int16) uint8
}

var ulawTable, alawTable [256]int16

func init() {
	for i := range 256 {
		ulawTable[i] = g711.DecodeUlawFrame(uint8(i))
		alawTable[i] = g711.DecodeAlawFrame(uint8(i))
	}
	for i := range 256 {
		alawToUlaw[i] = g711.EncodeUlawFrame(alawTable[i])
		ulawToAlaw[i] = g711.EncodeAlawFrame(ulawTable[i])
	}
}

// The codecs botline speaks, in order of preference when an offer does not
// say otherwise.
var (
	PCMU = Codec{Name: "PCMU", PayloadType: 0, decode: &ulawTable, encode: g711.EncodeUlawFrame}
	PCMA = Codec{Name: "PCMA", PayloadType: 8, decode: &alawTable, encode: g711.EncodeAlawFrame}
)

// Decode turns G.711 bytes into PCM, len(dst) >= len(src).
func (c Codec) Decode(dst []int16, src []byte) {
	for i, b := range src {
		dst[i] = c.decode[b]
	}
}

// Encode turns PCM into G.711 bytes, len(dst) >= len(src).
func (c Codec) Encode(dst []byte, src []int16) {
	for i, s := range src {
		dst[i] = c.encode(s)
	}
}

// alawToUlaw and ulawToAlaw translate G.711 bytes between the two laws, for
// a bridge whose legs negotiated different ones (filled by init, after the
// decode tables).
var alawToUlaw, ulawToAlaw [256]byte

// Translate rewrites a payload from one law to the other in place.
func Translate(p []byte, from, to Codec) {
	if from.Name == to.Name {
		return
	}
	t := &alawToUlaw
	if from.Name == "PCMU" {
		t = &ulawToAlaw
	}
	for i, b := range p {
		p[i] = t[b]
	}
}
