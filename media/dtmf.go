package media

import (
	"encoding/binary"
	"strings"
)

// RFC 4733 telephone-event codes 0-15 are the keys 0-9, *, #, A-D.
const dtmfKeys = "0123456789*#ABCD"

// DTMFDigit returns the key of an RFC 4733 event code.
func DTMFDigit(event uint8) (byte, bool) {
	if int(event) >= len(dtmfKeys) {
		return 0, false
	}
	return dtmfKeys[event], true
}

// DTMFEvent returns the RFC 4733 event code of a key (0-9, *, #, A-D).
func DTMFEvent(digit byte) (uint8, bool) {
	i := strings.IndexByte(dtmfKeys, upper(digit))
	if i < 0 {
		return 0, false
	}
	return uint8(i), true
}

// upper is the upper-case letter of a key.
func upper(b byte) byte {
	if b >= 'a' && b <= 'z' {
		return b - 'a' + 'A'
	}
	return b
}

// DTMFDetector turns a stream of RFC 4733 event packets into key presses.
// One press spans many packets sharing an RTP timestamp (the key held), and
// its end packet is sent three times: all of that is one press. A new
// timestamp or a new event is a new press; so is the same event and
// timestamp starting again after its end (SIPp replays the same capture for
// a repeated key).
type DTMFDetector struct {
	valid bool
	ts    uint32
	event uint8
	ended bool
}

// Packet takes one event payload (and its RTP timestamp) and reports a new
// press.
func (d *DTMFDetector) Packet(payload []byte, ts uint32) (byte, bool) {
	if len(payload) < 4 {
		return 0, false
	}
	event, end := payload[0], payload[1]&0x80 != 0
	digit, ok := DTMFDigit(event)
	if !ok {
		return 0, false // flash hook, tones: not keys
	}
	isNew := !d.valid || ts != d.ts || event != d.event || (d.ended && !end)
	d.valid, d.ts, d.event = true, ts, event
	if isNew {
		d.ended = end
		return digit, true
	}
	d.ended = d.ended || end
	return 0, false
}

// DTMF sending (RFC 4733 §2.5): each key is sent for dtmfToneFrames frames,
// then its end packet three times, then dtmfGapFrames frames of audio.
const (
	dtmfToneFrames = 5 // 100 ms
	dtmfEndRepeats = 3
	dtmfGapFrames  = 3 // 60 ms
	dtmfVolume     = 10
)

// dtmfSender sends queued keys as event packets in place of audio frames.
type dtmfSender struct {
	queue []uint8 // event codes waiting
	// frame counts the frames of the key being sent: 0 = none.
	frame int
	event uint8
	ts    uint32
}

// next reports whether this frame carries an event packet instead of
// audio, and fills payload (4 bytes), the timestamp to use and the marker.
func (s *dtmfSender) next(payload []byte, now uint32) (ts uint32, marker, ok bool) {
	if s.frame == 0 {
		if len(s.queue) == 0 {
			return 0, false, false
		}
		s.event, s.queue = s.queue[0], s.queue[1:]
		s.ts = now
		marker = true
	}
	s.frame++
	tone := min(s.frame, dtmfToneFrames)
	end := s.frame >= dtmfToneFrames
	if s.frame > dtmfToneFrames+dtmfEndRepeats-1 {
		// gap after the key: audio again
		if s.frame >= dtmfToneFrames+dtmfEndRepeats-1+dtmfGapFrames {
			s.frame = 0
		}
		return 0, false, false
	}
	payload[0] = s.event
	payload[1] = dtmfVolume
	if end {
		payload[1] |= 0x80
	}
	binary.BigEndian.PutUint16(payload[2:], uint16(tone*FrameSize))
	return s.ts, marker, true
}
