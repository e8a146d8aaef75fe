package sip

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// This file decides which requests reach the call handlers: the source
// allow list, the per-source INVITE rate, the call limit, and which
// targets a transfer may dial. None of it runs per packet.

// allowed reports whether a request from ip may be served: every source
// when the allow list is empty.
func (s *Server) allowed(ip netip.Addr) bool {
	if len(s.cfg.Allow) == 0 {
		return true
	}
	return inPrefixes(s.cfg.Allow, ip)
}

func inPrefixes(ps []netip.Prefix, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, p := range ps {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// admit wraps a handler with the source allow list: a request from
// elsewhere gets 403 Forbidden, or nothing with Config.AllowSilent, and
// never reaches h (so creates no dialog, call or transaction state beyond
// the one sipgo already holds for it). A request without one of the
// headers every request needs, or with one of the single ones twice, gets
// 400.
func (s *Server) admit(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		if tx != nil {
			tx = countingTx{tx, s}
		}
		if ip := sourceIP(req); !s.allowed(ip) {
			s.refusals.source.Add(1)
			s.noisy.Debug("SIP request from a source not allowed", "method", req.Method.String(), "source", req.Source())
			if !s.cfg.AllowSilent && req.Method != sip.ACK && tx != nil && s.mayRefuse(ip, time.Now()) {
				s.refuse(tx, sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			} else if tx != nil {
				tx.Terminate()
			}
			return
		}
		if name := missingHeader(req); name != "" {
			s.noisy.Debug("SIP request without a required header", "method", req.Method.String(), "header", name, "source", req.Source())
			if req.Method != sip.ACK && tx != nil {
				respond(tx, req, 400, "Missing "+name, s.log)
			}
			return
		}
		if res := malformed(req); res != nil {
			s.noisy.Debug("SIP request refused", "method", req.Method.String(), "status", res.StatusCode, "reason", res.Reason, "source", req.Source())
			if req.Method != sip.ACK && tx != nil {
				if err := tx.Respond(res); err != nil {
					s.log.Debug("sip respond failed", "err", err)
				}
			}
			return
		}
		h(req, tx)
	}
}

// missingHeader names the first header every request must carry (RFC 3261
// 8.1.1) that req lacks, "" if none: no handler sees a request without
// them.
func missingHeader(req *sip.Request) string {
	switch {
	case req.Via() == nil:
		return "Via"
	case req.From() == nil:
		return "From"
	case req.To() == nil:
		return "To"
	case req.CallID() == nil:
		return "Call-ID"
	case req.CSeq() == nil:
		return "CSeq"
	}
	return ""
}

// supportedExtensions are the option tags botline implements (a Require
// naming another gets 420): session timers (RFC 4028).
var supportedExtensions = []string{"timer", "siprec"}

// malformed is the answer to a request no handler should see (RFC 3261
// 8.2.2 and 8.1.1.5, RFC 4475 badvers, mismatch01, multi01, bext01), nil
// if it may be served: 505 for a version other than SIP/2.0, 400 for a
// single header repeated or a CSeq method that is not the request's, 420
// (with Unsupported) for a Require botline does not implement.
func malformed(req *sip.Request) *sip.Response {
	if req.SipVersion != "SIP/2.0" {
		res := sip.NewResponseFromRequest(req, 505, "Version Not Supported", nil)
		res.SipVersion = "SIP/2.0"
		return res
	}
	if name := repeatedHeader(req); name != "" {
		return sip.NewResponseFromRequest(req, 400, "Multiple "+name, nil)
	}
	if cseq := req.CSeq(); cseq.MethodName != req.Method {
		return sip.NewResponseFromRequest(req, 400, "CSeq Method Mismatch", nil)
	}
	if req.Method == sip.ACK || req.Method == sip.CANCEL {
		return nil // RFC 3261 8.2.2.3: never 420
	}
	var unsupported []string
	for _, h := range req.GetHeaders("Require") {
		for _, tag := range strings.Split(h.Value(), ",") {
			if tag = strings.TrimSpace(tag); tag != "" && !slices.Contains(supportedExtensions, strings.ToLower(tag)) {
				unsupported = append(unsupported, tag)
			}
		}
	}
	if len(unsupported) > 0 {
		res := sip.NewResponseFromRequest(req, 420, "Bad Extension", nil)
		res.AppendHeader(sip.NewHeader("Unsupported", strings.Join(unsupported, ", ")))
		return res
	}
	return nil
}

// repeatedHeader names a header that must appear once (RFC 3261 7.3.1;
// RFC 4475 multi01) but appears more often in req, "" if none.
func repeatedHeader(req *sip.Request) string {
	for _, name := range []string{"Call-ID", "From", "To", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"} {
		if len(req.GetHeaders(name)) > 1 {
			return name
		}
	}
	return ""
}

// TransferAllowed reports whether patterns let a transfer dial target: a
// pattern is a number matched exactly, or a prefix ending in *; "*" alone
// allows every target. No patterns allow nothing.
func TransferAllowed(patterns []string, target string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(target, prefix) || p == target {
			return true
		}
	}
	return false
}

// admitCall decides whether a new INVITE may start a call: the source's
// INVITE rate (sources in Allow are exempt: they are the trunk), the
// caller's credentials, then the call limit. On true it has counted the
// call in s.active; on false it has answered (or, for a source over its
// rate under AllowSilent, dropped) the INVITE.
func (s *Server) admitCall(req *sip.Request, tx sip.ServerTransaction, log *slog.Logger) bool {
	now := time.Now()
	if s.draining.Load() {
		s.refusals.draining.Add(1)
		log.Info("call refused", "status", 503, "reason", "draining")
		s.respondRetry(req, tx)
		return false
	}
	ip := sourceIP(req)
	if !inPrefixes(s.cfg.Allow, ip) && !s.limiter.Take(ip, now) {
		s.refusals.rateLimited.Add(1)
		log.Warn("call refused", "status", 503, "reason", "INVITE rate of the source exceeded", "source", req.Source())
		s.respondRetry(req, tx)
		return false
	}
	if s.cfg.Auth != nil {
		user, verdict := s.cfg.Auth.check(req, ip, inPrefixes(s.cfg.Allow, ip), now)
		switch verdict {
		case authChallenge, authStale:
			s.refusals.unauthorized.Add(1)
			log.Debug("INVITE challenged", "source", req.Source(), "stale", verdict == authStale)
			s.refuse(tx, s.cfg.Auth.challenge(req, verdict == authStale, now))
			return false
		case authForbidden:
			s.refusals.unauthorized.Add(1)
			log.Warn("call refused", "status", 403, "reason", "wrong SIP credentials", "source", req.Source())
			s.refuse(tx, sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return false
		case authLockedOut:
			s.refusals.lockedOut.Add(1)
			log.Warn("call refused", "status", 403, "reason", "too many wrong SIP credentials: locked out for a while", "source", req.Source())
			s.refuse(tx, sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return false
		}
		log.Debug("caller authenticated", "user", user)
	}
	if n := s.active.Add(1); s.cfg.MaxCalls > 0 && n > int64(s.cfg.MaxCalls) {
		s.active.Add(-1)
		s.refusals.overCapacity.Add(1)
		log.Warn("call refused", "status", 503, "reason", "call limit reached", "maxCalls", s.cfg.MaxCalls)
		s.respondRetry(req, tx)
		return false
	}
	return true
}

func (s *Server) respondRetry(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
	res.AppendHeader(sip.NewHeader("Retry-After", retryAfter))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "err", err)
	}
}

// readFilter sees every datagram and stream read before sipgo parses it:
// with AllowSilent, what a source outside the allow list sends is dropped
// here, unparsed and unlogged (a flood of junk costs a count, not a log
// line), and counted as a refused source.
func (s *Server) readFilter(info sip.TransportReadProps, data []byte) ([]byte, error) {
	if !s.cfg.AllowSilent || info.RemoteAddr == nil {
		return data, nil
	}
	ap, err := netip.ParseAddrPort(info.RemoteAddr.String())
	if err != nil || !s.allowed(ap.Addr().Unmap()) {
		s.refusals.source.Add(1)
		return nil, nil
	}
	return data, nil
}

// refuse answers a request that will not be served, then drops its
// transaction at once: a refused INVITE holds no state and gets no
// retransmissions (over UDP a server transaction repeats a final answer
// until an ACK, eleven times for a spoofed source that never sends one:
// an amplifier). The answer goes back on the request's connection.
func (s *Server) refuse(tx sip.ServerTransaction, res *sip.Response) {
	if err := tx.Respond(res); err != nil {
		s.noisy.Debug("sip respond failed", "status", res.StatusCode, "err", err)
	}
	tx.Terminate()
}

// Refusals to sources outside the allow list are bounded: 5 a second per
// source (an IPv6 /64) and refuseGlobalRate in all; past that a request is
// dropped unanswered (still counted).
const refuseGlobalRate = 200

// mayRefuse reports whether a refusal to ip may be sent now.
func (s *Server) mayRefuse(ip netip.Addr, now time.Time) bool {
	return s.refuseLimiter.Take(ip, now) && s.refuseGlobal.Take(netip.Addr{}, now)
}
