package media

// jitterBuffer reorders received audio by RTP timestamp into a ring of
// samples read at a steady clock. A packet lands at its timestamp's place,
// so reordering needs no sorting, a lost packet leaves silence, and any
// packet time (20 ms, SIPp's 30 ms, ...) reads out as 20 ms frames.
type jitterBuffer struct {
	ring    [ringSize]int16
	readTS  uint32 // RTP timestamp of the next sample read
	ssrc    uint32
	started bool
	delay   uint32 // playout delay in samples

	late, resyncs uint64
}

const (
	ringSize = 1 << 13 // 8192 samples: ~1 s at 8 kHz
	ringMask = ringSize - 1
)

func newJitterBuffer(delaySamples uint32) *jitterBuffer {
	return &jitterBuffer{delay: delaySamples}
}

// write stores a packet's payload, decoded with c, at timestamp ts.
func (j *jitterBuffer) write(ssrc, ts uint32, payload []byte, c *Codec) {
	if !j.started || ssrc != j.ssrc {
		j.resync(ssrc, ts)
	}
	off := int32(ts - j.readTS)
	if off < 0 { // late: drop the part already played out
		skip := int(-off)
		if skip >= len(payload) {
			j.late++
			return
		}
		payload = payload[skip:]
		ts += uint32(skip)
		off = 0
	}
	if int(off)+len(payload) > ringSize { // a timestamp jump or clock drift: start over here
		j.resync(ssrc, ts)
	}
	// at most two runs of the ring (it wraps once), each decoded without
	// a mask per sample
	at := int(ts & ringMask)
	first := min(len(payload), ringSize-at)
	c.Decode(j.ring[at:at+first], payload[:first])
	c.Decode(j.ring[:len(payload)-first], payload[first:])
}

func (j *jitterBuffer) resync(ssrc, ts uint32) {
	if j.started {
		j.resyncs++
	}
	j.ring = [ringSize]int16{}
	j.ssrc, j.started = ssrc, true
	j.readTS = ts - j.delay
}

// read fills out with the next samples, silence where nothing arrived, and
// clears what it read.
func (j *jitterBuffer) read(out []int16) {
	if !j.started {
		clear(out)
		return
	}
	for n := 0; n < len(out); { // at most two runs of the ring
		at := int((j.readTS + uint32(n)) & ringMask)
		k := copy(out[n:], j.ring[at:])
		clear(j.ring[at : at+k])
		n += k
	}
	j.readTS += uint32(len(out))
}
