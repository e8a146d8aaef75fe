package siptest

import (
	"context"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"time"

	"github.com/botline/botline/media"
	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

func (c *Call) initSender(ssrc uint32) {
	c.encode = g711.EncodeUlawFrame
	if c.PT == 8 {
		c.encode = g711.EncodeAlawFrame
	}
	c.out = rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: c.PT, SSRC: ssrc, SequenceNumber: uint16(mrand.Uint32()), Timestamp: mrand.Uint32()}}
	c.out.Payload = make([]byte, 160)
	c.outBuf = make([]byte, 1500)
	c.dst = c.Remote
}

// drain measures the far end's RTP on the call's own socket.
func (c *Call) drain() {
	buf := make([]byte, 1500)
	for {
		n, err := c.RTP.Read(buf)
		if err != nil {
			return
		}
		c.receive(buf[:n], time.Now())
	}
}

// receive measures one packet of the far end's; one goroutine calls it.
func (c *Call) receive(b []byte, now time.Time) {
	h := &c.in
	off, err := h.Unmarshal(b)
	if err != nil {
		return
	}
	loud := h.PayloadType == c.PT && c.loudPayload(b[off:])
	c.mu.Lock()
	if loud {
		c.loud++
	}
	if h.PayloadType == 101 {
		if k, ok := c.keysIn.Packet(b[off:], h.Timestamp); ok {
			c.keys = append(c.keys, k)
		}
	}
	c.stats.Update(h.SequenceNumber, h.Timestamp, now)
	if c.stats.Received == 1 {
		close(c.received)
	}
	c.mu.Unlock()
}

// loudPayload reports whether a G.711 payload holds more than silence
// (every sample is looked at: a stride would alias with some tones).
func (c *Call) loudPayload(p []byte) bool {
	decode := g711.DecodeUlawFrame
	if c.PT == 8 {
		decode = g711.DecodeAlawFrame
	}
	for _, b := range p {
		if v := decode(b); v > 500 || v < -500 {
			return true
		}
	}
	return false
}

// Keys returns the keys the far end sent as RFC 4733 events (payload
// type 101) so far.
func (c *Call) Keys() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.keys)
}

// LoudPackets is how many of the far end's audio packets were not silence.
func (c *Call) LoudPackets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loud
}

// ReceivedPackets is how many RTP packets the far end sent so far.
func (c *Call) ReceivedPackets() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return int(c.stats.Received)
}

// Stats returns the statistics of the far end's RTP so far.
func (c *Call) Stats() media.RTPStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// QueueDTMF queues digits (0-9, *, #) to be sent as RFC 4733 events by
// SendPacket, in place of audio. It reports false when the far end did not
// accept telephone-event. Not safe concurrently with SendPacket.
func (c *Call) QueueDTMF(digits string) bool {
	if c.dtmfPT == 0 {
		return false
	}
	c.dtmf = append(c.dtmf, digits...)
	return true
}

// SkipFrames advances the stream's timestamp by n 20 ms frames not sent
// (a sender that fell behind), so the far end sees a gap, not lateness.
func (c *Call) SkipFrames(n int) { c.out.Timestamp += uint32(n * 160) }

// SendPacket sends the next 20 ms packet: the 160 samples given, or, while
// digits are queued, the current RFC 4733 event (5 packets of 100 ms tone
// plus 3 end packets, one timestamp per event). It allocates nothing.
func (c *Call) SendPacket(samples []int16) error {
	pkt, err := c.nextPacket(samples)
	if err != nil {
		return err
	}
	if _, err := c.RTP.WriteToUDPAddrPort(pkt, c.dst); err != nil {
		return fmt.Errorf("send rtp: %w", err)
	}
	return nil
}

// nextPacket builds the next packet SendPacket would send, in a buffer of
// the call's that the next one reuses.
func (c *Call) nextPacket(samples []int16) ([]byte, error) {
	var payload []byte
	if len(c.dtmf) > 0 {
		const toneFrames, endFrames = 5, 3
		c.out.PayloadType = c.dtmfPT
		c.out.Marker = c.dtmfPos == 0
		dur := uint16(min(c.dtmfPos+1, toneFrames) * 160)
		flags := byte(10) // volume
		if c.dtmfPos >= toneFrames {
			flags |= 0x80 // end
		}
		payload = c.outBuf[1400:1404]
		payload[0], payload[1], payload[2], payload[3] = event(c.dtmf[0]), flags, byte(dur>>8), byte(dur)
		c.dtmfPos++
		if c.dtmfPos == toneFrames+endFrames {
			// the last end packet still carries the key's timestamp: the
			// audio after it starts where the key's duration ends
			c.dtmf, c.dtmfPos = c.dtmf[1:], 0
			defer func() { c.out.Timestamp += toneFrames * 160 }()
		}
	} else {
		c.out.PayloadType, c.out.Marker = c.PT, false
		for i := range 160 {
			c.out.Payload[i] = c.encode(samples[i])
		}
		payload = c.out.Payload
		defer func() { c.out.Timestamp += 160 }()
	}
	saved := c.out.Payload
	c.out.Payload = payload
	n, err := c.out.MarshalTo(c.outBuf[:1400])
	c.out.Payload = saved
	if err != nil {
		return nil, err
	}
	c.out.SequenceNumber++
	return c.outBuf[:n], nil
}

// SendAudio streams samples (8 kHz PCM) as G.711 in 20 ms packets, paced in
// real time, until done or ctx ends.
func (c *Call) SendAudio(ctx context.Context, samples []int16) error {
	if c.RTP == nil {
		return errors.New("call has no media")
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for off := 0; off+160 <= len(samples); off += 160 {
		if err := c.SendPacket(samples[off : off+160]); err != nil {
			return err
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// event is a digit's RFC 4733 event code; a digit that is not a key sends 0.
func event(d byte) byte {
	e, _ := media.DTMFEvent(d)
	return e
}
