package recorder

import "testing"

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
		if q.MOS < tc.minMOS || q.MOS > tc.maxMOS {
			t.Errorf("lost %d late %d of %d: MOS %.2f (R %.1f), want %.2f-%.2f", tc.lost, tc.late, tc.received+tc.lost, q.MOS, q.RFactor, tc.minMOS, tc.maxMOS)
		}
	}
}
