package recorder

import (
	"encoding/json"
	"strings"
	"testing"
)

// The E-model estimate for G.711: a clean line is "very satisfied" (MOS
// about 4.4), and loss without concealment drags it down fast, as G.113
// Appendix I's Bpl of 4.3 says.
func TestCallQualityEModel(t *testing.T) {
	for _, tc := range []struct {
		lost, late, received uint64
		minMOS, maxMOS       float64
	}{
		{0, 0, 1000, 4.3, 4.42},
		{10, 0, 990, 3.6, 3.9},  // 1 %: R ~ 73
		{30, 20, 950, 1.9, 2.2}, // 5 % lost or late
		{500, 0, 500, 1, 1.3},   // half the call gone
	} {
		q := NewCallQuality(StreamQuality{Packets: tc.received, Lost: tc.lost, Late: tc.late}, StreamQuality{Packets: 1000})
		if q.MOS == nil || *q.MOS < tc.minMOS || *q.MOS > tc.maxMOS || q.Unrated != "" {
			t.Errorf("lost %d late %d of %d: %+v, want MOS %.2f-%.2f", tc.lost, tc.late, tc.received+tc.lost, q, tc.minMOS, tc.maxMOS)
		}
	}
}

// A call that received nothing gets no MOS, and says why.
func TestCallQualityWithoutPackets(t *testing.T) {
	q := NewCallQuality(StreamQuality{}, StreamQuality{Packets: 400})
	b, _ := json.Marshal(q)
	if q.MOS != nil || q.RFactor != nil || q.Unrated != UnratedNoPackets || strings.Contains(string(b), "mos") ||
		!strings.Contains(string(b), `"unrated":"NoPacketsReceived"`) {
		t.Fatalf("no packets received: %s, want no mos and unrated NoPacketsReceived", b)
	}
}
