package sip

import (
	"github.com/botline/botline/internal/metric"
	"github.com/emiago/sipgo/sip"
)

// This file counts what the SIP side did, for /metrics: responses by
// status code and call setup time. Nothing here runs per packet.

// SetupBounds are the upper bounds (seconds) of the setup-time buckets.
var SetupBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Setup returns the setup times of the answered calls: from the INVITE
// reaching its handler to the ACK of the 200 OK (ringing included).
func (s *Server) Setup() metric.Snapshot { return s.setup.Snapshot() }

// countingTx counts every response sent through it, by status code.
type countingTx struct {
	sip.ServerTransaction
	s *Server
}

func (t countingTx) Respond(res *sip.Response) error {
	if c := res.StatusCode; c >= 100 && c < len(t.s.responses) {
		t.s.responses[c].Add(1)
	}
	return t.ServerTransaction.Respond(res)
}

// Responses returns how many responses botline sent, by status code (the
// ones its handlers sent: sipgo's own 100 Trying and transaction-layer
// answers are not counted).
func (s *Server) Responses() map[int]uint64 {
	out := map[int]uint64{}
	for code := range s.responses {
		if n := s.responses[code].Load(); n > 0 {
			out[code] = n
		}
	}
	return out
}

// Active is how many calls are being set up or are up.
func (s *Server) Active() int64 { return s.active.Load() }
