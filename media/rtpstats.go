package media

import "time"

// RTPStats measures one received RTP stream: packets, loss from sequence
// numbers (with wrap-around), RFC 3550 interarrival jitter, and packets
// arriving later than LateAfter behind the stream's best transit time.
// The zero value is ready; Update allocates nothing.
type RTPStats struct {
	LateAfter time.Duration // 0 = 60 ms

	Received uint64
	Late     uint64
	jitter   float64 // in RTP timestamp units (1/8000 s)

	started    bool
	baseSeq    uint16
	maxSeq     uint16
	cycles     uint64
	lastTS     uint32
	lastArr    time.Time
	minTransit time.Duration
	start      time.Time
	startTS    uint32
}

// Update records a packet with sequence seq and timestamp ts arriving at
// arrival.
func (s *RTPStats) Update(seq uint16, ts uint32, arrival time.Time) {
	s.Received++
	if !s.started {
		s.started = true
		s.baseSeq, s.maxSeq = seq, seq
		s.lastTS, s.lastArr = ts, arrival
		s.start, s.startTS = arrival, ts
		return
	}
	if d := seq - s.maxSeq; d != 0 && d < 0x8000 { // newer
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		s.maxSeq = seq
	}
	// RFC 3550 A.8: J += (|D| - J) / 16, D from arrival and timestamp deltas.
	arrDelta := float64(arrival.Sub(s.lastArr)) * 8000 / float64(time.Second)
	d := arrDelta - float64(int32(ts-s.lastTS))
	if d < 0 {
		d = -d
	}
	s.jitter += (d - s.jitter) / 16
	s.lastTS, s.lastArr = ts, arrival

	// Transit relative to the first packet; the best one is the reference.
	transit := arrival.Sub(s.start) - time.Duration(int32(ts-s.startTS))*time.Second/8000
	if transit < s.minTransit {
		s.minTransit = transit
	}
	late := s.LateAfter
	if late == 0 {
		late = 60 * time.Millisecond
	}
	if transit-s.minTransit > late {
		s.Late++
	}
}

// Expected is how many packets the sequence numbers say were sent.
func (s *RTPStats) Expected() uint64 {
	if !s.started {
		return 0
	}
	return s.cycles + uint64(s.maxSeq) - uint64(s.baseSeq) + 1
}

// Lost is Expected minus Received, never negative (duplicates).
func (s *RTPStats) Lost() uint64 {
	e := s.Expected()
	if s.Received >= e {
		return 0
	}
	return e - s.Received
}

// Jitter is the RFC 3550 interarrival jitter.
func (s *RTPStats) Jitter() time.Duration {
	return time.Duration(s.jitter * float64(time.Second) / 8000)
}
