package recorder

import "math"

// CallQuality is a call's RTP figures and an estimate of how it sounded,
// written into the metadata of the recording that was running when the
// call ended: a supervisor can tell a bad line from a bad agent.
type CallQuality struct {
	// Received is the caller's stream as botline got it.
	Received StreamQuality `json:"received"`
	// Sent is botline's stream to the caller: packets only (botline reads
	// no RTCP reports, so the far end's loss is unknown).
	Sent StreamQuality `json:"sent"`
	// RFactor and MOS are the ITU-T G.107 E-model estimate for G.711 with
	// the received stream's loss (lost and late packets, random loss, no
	// packet-loss concealment) and 80 ms of mouth-to-ear delay (20 ms
	// packets and the 60 ms jitter buffer; the network's delay is not
	// known). With no packet received there is nothing to rate: both are
	// absent and Unrated says why.
	RFactor *float64 `json:"rFactor,omitempty"`
	MOS     *float64 `json:"mos,omitempty"`
	Unrated Unrated  `json:"unrated,omitempty"`
}

// Unrated says why a call has no quality estimate.
type Unrated string

// Why a call is not rated.
const (
	// UnratedNoPackets: the caller's stream brought no packet (one-way
	// audio, or a caller gone silent); a MOS would be invented.
	UnratedNoPackets Unrated = "NoPacketsReceived"
)

// StreamQuality is one direction's RTP figures.
type StreamQuality struct {
	Packets  uint64  `json:"packets"`
	Lost     uint64  `json:"lost"`
	Late     uint64  `json:"late"`
	JitterMs float64 `json:"jitterMs"` // RFC 3550 interarrival jitter at the end of the call
}

// E-model constants for G.711 without packet-loss concealment (ITU-T G.113
// Appendix I: Ie = 0, Bpl = 4.3) and the default R0 - Is of G.107 (93.2).
const (
	emodelR0     = 93.2
	emodelBpl    = 4.3
	emodelDelayM = 80.0 // ms, one way
)

// NewCallQuality computes the estimate from the two streams' figures.
func NewCallQuality(received, sent StreamQuality) *CallQuality {
	q := &CallQuality{Received: received, Sent: sent}
	if received.Packets == 0 {
		q.Unrated = UnratedNoPackets
		return q
	}
	expected := received.Packets + received.Lost
	ppl := 100 * float64(received.Lost+received.Late) / float64(expected)
	r := round2(emodelR(ppl, emodelDelayM))
	mos := round2(emodelMOS(r))
	q.RFactor, q.MOS = &r, &mos
	return q
}

// emodelR is G.107's R = R0 - Is - Id - Ie,eff + A with Is and A at their
// defaults, Id from the one-way delay ta (ms) and Ie,eff from the packet
// loss ppl (%) with BurstR 1.
func emodelR(ppl, ta float64) float64 {
	id := 0.024 * ta
	if ta > 177.3 {
		id += 0.11 * (ta - 177.3)
	}
	ieEff := (95 - 0) * ppl / (ppl + emodelBpl)
	return emodelR0 - id - ieEff
}

// emodelMOS maps R to the estimated mean opinion score (G.107 Annex B).
func emodelMOS(r float64) float64 {
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	return max(1, 1+0.035*r+r*(r-60)*(100-r)*7e-6) // the polynomial dips below 1 for R under ~6.5
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }
