package sip

// This file drains the server for an upgrade or a scale-in: it takes no
// new call (INVITE 503 + Retry-After, OPTIONS 503 so a proxy's dispatcher
// stops sending here), lets the calls in progress end on their own, and
// says when none is left.

import "context"

// Drain stops taking new calls; calls in progress go on. It is idempotent.
func (s *Server) Drain() {
	if s.draining.Swap(true) {
		return
	}
	s.log.Info("draining: no new calls; calls in progress go on", "calls", s.active.Load())
}

// Draining reports whether Drain was called.
func (s *Server) Draining() bool { return s.draining.Load() }

// WaitIdle returns once no call is being set up or up and every ended
// call's handler is done with it (its recording finalized), or when ctx
// ends (its error then).
func (s *Server) WaitIdle(ctx context.Context) error {
	for !s.idleNow() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.idle:
		}
	}
	return nil
}

func (s *Server) idleNow() bool { return s.active.Load() == 0 && s.ending.Load() == 0 }

// ended is told when an answered call's end has run to completion.
func (s *Server) ended() {
	s.ending.Add(-1)
	s.callGone()
}

// callGone is told when a call is no longer being set up or up.
func (s *Server) callGone() {
	if s.idleNow() {
		select {
		case s.idle <- struct{}{}:
		default:
		}
	}
}
