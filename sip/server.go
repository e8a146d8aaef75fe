package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/internal/connguard"
	"github.com/botline/botline/internal/lograte"
	"github.com/botline/botline/internal/metric"
	"github.com/botline/botline/internal/ratelimit"
	"github.com/botline/botline/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Handler is told of calls; the channel implements it.
type Handler interface {
	// CallAnswered is called once the caller has ACKed the 200 OK. It
	// returns the sink that receives the call's audio.
	CallAnswered(c *Call) media.AudioSink
	// CallEnded is called once when an answered call ends, after its last
	// audio frame reached the sink.
	CallEnded(c *Call, reason EndReason)
	// CallDTMF is called once per key the caller pressed (RFC 4733 event or
	// SIP INFO). It must not block: it runs on the call's media goroutine.
	CallDTMF(c *Call, digit byte)
}

// Screener is a Handler that decides, while the call rings, whether it is
// answered at all (a carrier fails a refused call over to another route).
type Screener interface {
	// CallOffered runs after 180 Ringing, before the 200 OK; ctx ends if
	// the caller cancels. It returns 0 to answer, or the 4xx-6xx status
	// (and reason phrase) to refuse the call with. Until it returns the
	// call has no media: what is played waits for the answer.
	CallOffered(ctx context.Context, c *Call) (status int, reason string)
}

// Config configures a Server.
type Config struct {
	Listen string // host:port for UDP and TCP
	// Media runs the calls' RTP, on its IP (which the SDP gives) and
	// ports; its owner closes it after ListenAndServe returned.
	Media    *media.Engine
	RingTime time.Duration // time between 180 Ringing and 200 OK
	// RTPTimeout hangs up a call whose caller sent no RTP for this long
	// (a caller gone without BYE); 0 = never.
	RTPTimeout time.Duration
	Handler    Handler
	Logger     *slog.Logger
	// OutboundProxy (host:port) is where transfers the caller refuses to
	// take by REFER are dialed, and bridged; "" = no bridged transfers.
	OutboundProxy string
	// AckTimeout bounds the wait for the ACK of a 200 OK (default 8 s,
	// against RFC 3261's 32): an INVITE from a spoofed source, or a caller
	// gone, holds its RTP port and is answered with retransmissions this
	// long at most, plus one retransmission interval (4 s).
	AckTimeout time.Duration
	// TCPIdleTimeout closes a SIP connection over TCP or TLS that sent
	// nothing this long (default 3 minutes): a caller on TCP keeps its
	// connection with CRLF keep-alives (RFC 5626) or in-dialog requests.
	TCPIdleTimeout time.Duration
	// MaxConnections bounds the TCP and TLS connections held at once, per
	// listener (default 4096), and MaxConnectionsPerSource those from one
	// IP not in Allow (default 64); past them a new connection is closed
	// at once. A connection from a source Allow refuses is closed at once.
	MaxConnections, MaxConnectionsPerSource int
	// TLSHandshakeTimeout bounds a TLS connection's handshake (default
	// 10 s): one that has not finished by then is closed.
	TLSHandshakeTimeout time.Duration

	// Allow lists the sources (the trunk's or proxy's addresses) whose
	// requests are served; empty = every source. A request from elsewhere
	// gets 403 Forbidden, or no answer at all with AllowSilent.
	Allow       []netip.Prefix
	AllowSilent bool
	// Auth, if set, challenges every new INVITE with digest
	// authentication; a call starts only with the right credentials.
	Auth *DigestAuth
	// MaxCalls bounds the calls being set up or up at once (0 = no
	// bound); past it an INVITE gets 503 with Retry-After.
	MaxCalls int
	// InviteRate bounds the new INVITEs per second from one source that
	// is not in Allow (bursts of twice that); past it they get 503 with
	// Retry-After. 0 = no bound.
	InviteRate float64
	// TransferAllow holds the patterns of the targets a transfer may dial
	// (see TransferAllowed); with none, every transfer is refused.
	TransferAllow []string
	// TLSListen (host:port) serves SIP over TLS with TLSConfig too; a call
	// that came in over TLS gets a Contact at it: sips: when its
	// Request-URI was sips:, else sip: with transport=tls.
	TLSListen string
	TLSConfig *tls.Config
	// TLSClientConfig, if set, is what botline's own TLS connections (a
	// transfer's INVITE over TLS) present and verify: a client certificate
	// for trunks that authenticate by certificate, and their CAs.
	TLSClientConfig *tls.Config
	// SRTP says when media is encrypted (SDES keys in the SDP).
	SRTP SRTPMode
	// Resolver looks up the host names of Via, Contact and the outbound
	// proxy; nil = the system's.
	Resolver *net.Resolver
}

// retryAfter is the Retry-After of a 503 for a full gateway or a source
// over its INVITE rate.
const retryAfter = "5"

// Server is the SIP user-agent server.
type Server struct {
	cfg Config
	log *slog.Logger
	// noisy logs what a remote party can cause at will (refusals, junk,
	// the SIP stack's parse errors): each message at most 20 at once and
	// 5 a second, long values cut.
	noisy  *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	dialog *sipgo.DialogUA
	// tlsDialog and sipsDialog answer calls that came over TLS
	// (Config.TLSListen): Contact sip:...;transport=tls, or sips:.
	tlsDialog, sipsDialog *sipgo.DialogUA

	mu    sync.Mutex
	calls map[string]*Call // by dialog id
	legs  map[string]*Call // bridged transfers: the call by its outbound leg's Call-ID
	ends  sync.WaitGroup   // answered calls not yet fully ended
	media *media.Engine
	// bound are the sockets Listen bound, unbind closes the stream ones.
	bound  *listeners
	unbind context.CancelFunc

	totals   totals
	refusals refusals
	limiter  *ratelimit.Limiter
	// refuseLimiter and refuseGlobal bound the 403s sent to sources outside
	// the allow list, per source and in all (mayRefuse).
	refuseLimiter, refuseGlobal *ratelimit.Limiter
	active                      atomic.Int64 // calls being set up or up (MaxCalls)
	draining                    atomic.Bool
	ending                      atomic.Int64  // answered calls whose end (the handler's CallEnded) has not finished
	idle                        chan struct{} // a call went and none is left (WaitIdle)

	responses [700]atomic.Uint64 // sent, by status code
	setup     *metric.Histogram
	conns     connguard.Stats // what the TCP and TLS listeners turned away
}

// refusals counts the requests turned away, by why.
type refusals struct {
	source, unauthorized, rateLimited, overCapacity, draining, lockedOut atomic.Uint64
}

// Totals sums the media of every ended call.
type Totals struct {
	Calls        uint64 `json:"calls"`
	RTPReceived  uint64 `json:"rtpReceived"`
	RTPLost      uint64 `json:"rtpLost"`
	RTPLate      uint64 `json:"rtpLate"`
	RTPSent      uint64 `json:"rtpSent"`
	RTPForeign   uint64 `json:"rtpForeign"`
	RTPStrangers uint64 `json:"rtpStrangers"` // from other sources than the caller: dropped
	RTPSkipped   uint64 `json:"rtpSkipped"`   // frames not sent: the gateway ran behind
	SRTPFailed   uint64 `json:"srtpFailed"`   // SRTP packets failing authentication or replay checks: dropped
	MaxJitterUs  int64  `json:"maxJitterUs"`
	MeanJitterUs int64  `json:"meanJitterUs"`
	// EndReasons counts the ended calls by why they ended.
	EndReasons map[EndReason]uint64 `json:"endReasons"`

	// SIP requests turned away: from a source not in Config.Allow; new
	// INVITEs without valid credentials (challenges and 403s), over the
	// per-source rate, or past MaxCalls.
	RefusedSource       uint64 `json:"sipRefusedSource"`
	RefusedUnauthorized uint64 `json:"sipRefusedUnauthorized"`
	RefusedRateLimited  uint64 `json:"sipRefusedRateLimited"`
	RefusedOverCapacity uint64 `json:"sipRefusedOverCapacity"`
	RefusedDraining     uint64 `json:"sipRefusedDraining"` // new INVITEs while draining
	// RefusedLockedOut counts INVITEs refused because their source or user
	// gave too many wrong digest answers (DigestAuth).
	RefusedLockedOut uint64 `json:"sipRefusedLockedOut"`

	// TCP and TLS connections turned away: from a source not in
	// Config.Allow, past the connection bounds, TLS handshakes that failed
	// or timed out; and accept errors (out of file descriptors) the
	// listeners backed off from.
	ConnRefusedSource   uint64 `json:"sipConnRefusedSource"`
	ConnRefusedLimit    uint64 `json:"sipConnRefusedLimit"`
	ConnHandshakeFailed uint64 `json:"sipConnHandshakeFailed"`
	ConnAcceptErrors    uint64 `json:"sipConnAcceptErrors"`
}

// totals is updated once per ended call, never per packet.
type totals struct {
	mu        sync.Mutex
	t         Totals
	jitterSum time.Duration
}

func (t *totals) add(s media.Stats, reason EndReason) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.t.Calls++
	if t.t.EndReasons == nil {
		t.t.EndReasons = map[EndReason]uint64{}
	}
	t.t.EndReasons[reason]++
	t.t.RTPReceived += s.Received
	t.t.RTPLost += s.Lost
	t.t.RTPLate += s.Late
	t.t.RTPSent += s.Sent
	t.t.RTPForeign += s.Foreign
	t.t.RTPStrangers += s.Strangers
	t.t.RTPSkipped += s.Skipped
	t.t.SRTPFailed += s.SRTPFailed
	t.t.MaxJitterUs = max(t.t.MaxJitterUs, s.Jitter.Microseconds())
	t.jitterSum += s.Jitter
	t.t.MeanJitterUs = (t.jitterSum / time.Duration(t.t.Calls)).Microseconds()
}

// Stats returns the media totals of the calls ended so far.
func (s *Server) Stats() Totals {
	s.totals.mu.Lock()
	t := s.totals.t
	t.EndReasons = maps.Clone(t.EndReasons)
	s.totals.mu.Unlock()
	t.RefusedSource = s.refusals.source.Load()
	t.RefusedUnauthorized = s.refusals.unauthorized.Load()
	t.RefusedRateLimited = s.refusals.rateLimited.Load()
	t.RefusedOverCapacity = s.refusals.overCapacity.Load()
	t.RefusedDraining = s.refusals.draining.Load()
	t.RefusedLockedOut = s.refusals.lockedOut.Load()
	t.ConnRefusedSource = s.conns.Refused.Load()
	t.ConnRefusedLimit = s.conns.OverLimit.Load()
	t.ConnHandshakeFailed = s.conns.Handshake.Load()
	t.ConnAcceptErrors = s.conns.AcceptErrors.Load()
	t.RTPStrangers += s.media.Strangers() // on shared ports strangers belong to no call
	return t
}

// NewServer builds a Server; ListenAndServe starts it.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Media == nil {
		return nil, errors.New("sip: no media engine")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 8 * time.Second
	}
	if cfg.TCPIdleTimeout <= 0 {
		cfg.TCPIdleTimeout = 3 * time.Minute
	}
	host, port, err := hostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("sip listen: %w", err)
	}
	noisy := slog.New(lograte.New(cfg.Logger.Handler(), 5, 20))
	s := &Server{
		cfg: cfg, log: cfg.Logger, noisy: noisy, calls: map[string]*Call{}, legs: map[string]*Call{}, media: cfg.Media,
		idle:    make(chan struct{}, 1),
		limiter: ratelimit.New(cfg.InviteRate), refuseLimiter: ratelimit.New(5), refuseGlobal: ratelimit.New(refuseGlobalRate),
		setup: metric.NewHistogram(SetupBounds...),
	}
	tcp := &sip.TransportTCP{ReadTimeout: cfg.TCPIdleTimeout, WriteTimeout: 10 * time.Second}
	tlsTransport := &sip.TransportTLS{TransportTCP: &sip.TransportTCP{ReadTimeout: cfg.TCPIdleTimeout, WriteTimeout: 10 * time.Second}}
	uaOpts := []sipgo.UserAgentOption{sipgo.WithUserAgent("botline"), sipgo.WithUserAgentHostname(host),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(noisy), sip.WithTransportLayerReadFilter(s.readFilter),
			sip.WithTransportLayerTransports(sip.TransportsConfig{TCP: tcp, TLS: tlsTransport})),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(noisy))}
	if cfg.Resolver != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgentDNSResolver(cfg.Resolver))
	}
	if cfg.TLSClientConfig != nil {
		uaOpts = append(uaOpts, sipgo.WithUserAgenTLSConfig(cfg.TLSClientConfig))
	}
	ua, err := sipgo.NewUA(uaOpts...)
	if err != nil {
		return nil, fmt.Errorf("sip user agent: %w", err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(noisy))
	if err != nil {
		return nil, fmt.Errorf("sip server: %w", err)
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientLogger(noisy))
	if err != nil {
		return nil, fmt.Errorf("sip client: %w", err)
	}
	s.ua, s.srv = ua, srv
	s.dialog = &sipgo.DialogUA{
		Client:     client,
		ContactHDR: sip.ContactHeader{Address: sip.Uri{User: "botline", Host: host, Port: port}},
	}
	if cfg.TLSListen != "" {
		if cfg.TLSConfig == nil {
			return nil, errors.New("sip tls: a listen address without a certificate")
		}
		thost, p, err := hostPort(cfg.TLSListen)
		if err != nil {
			return nil, fmt.Errorf("sip tls listen: %w", err)
		}
		tlsParam := sip.NewParams()
		tlsParam.Add("transport", "tls")
		s.tlsDialog = &sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{
			Address: sip.Uri{Scheme: "sip", User: "botline", Host: thost, Port: p, UriParams: tlsParam}}}
		s.sipsDialog = &sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{
			Address: sip.Uri{Scheme: "sips", User: "botline", Host: thost, Port: p}}}
	}
	for method, h := range map[sip.RequestMethod]sipgo.RequestHandler{
		sip.INVITE: s.onInvite, sip.ACK: s.onAck, sip.BYE: s.onBye, sip.OPTIONS: s.onOptions,
		sip.INFO: s.onInfo, sip.UPDATE: s.onUpdate, sip.NOTIFY: s.onNotify,
	} {
		srv.OnRequest(method, s.admit(h))
	}
	srv.OnNoRoute(s.admit(s.onNoRoute))
	return s, nil
}

// hostPort splits host:port with a numeric port.
func hostPort(addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q: %w", addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return "", 0, fmt.Errorf("%q: port %q: %w", addr, ps, err)
	}
	return host, port, nil
}

// onNoRoute answers a method botline does not serve (REGISTER, MESSAGE,
// SUBSCRIBE, ...): 405 with the methods it does, and no state.
func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	if req.Method == sip.ACK || tx == nil {
		return
	}
	res := sip.NewResponseFromRequest(req, 405, "Method Not Allowed", nil)
	res.AppendHeader(sip.NewHeader("Allow", allow))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "err", err)
	}
}

// dialogUA is the user agent that answers req, by the Contact it gives:
// over TLS, a sips: Contact when the Request-URI is sips: (RFC 3261
// 12.1.1), else sip:...;transport=tls; otherwise the plain one.
func (s *Server) dialogUA(req *sip.Request) *sipgo.DialogUA {
	switch {
	case s.tlsDialog == nil || !strings.EqualFold(req.Transport(), "TLS"):
		return s.dialog
	case req.Recipient.IsEncrypted():
		return s.sipsDialog
	}
	return s.tlsDialog
}

// listeners are the server's bound sockets (Listen).
type listeners struct {
	udp      net.PacketConn
	tcp, tls *connguard.Listener
}

// Listen binds the SIP sockets (UDP and TCP on cfg.Listen, TLS on
// cfg.TLSListen) so that calls can reach the server once it returns;
// ListenAndServe serves them. ListenAndServe binds them itself when Listen
// was not called.
func (s *Server) Listen() error {
	if s.bound != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var l listeners
	fail := func(err error) error {
		cancel()
		if l.udp != nil {
			l.udp.Close()
		}
		return err
	}
	var err error
	if l.tcp, err = s.listenStream(ctx, s.cfg.Listen, nil); err != nil {
		return fail(err)
	}
	if s.cfg.TLSListen != "" {
		if l.tls, err = s.listenStream(ctx, s.cfg.TLSListen, s.cfg.TLSConfig); err != nil {
			return fail(err)
		}
	}
	if l.udp, err = net.ListenPacket("udp", s.cfg.Listen); err != nil {
		return fail(fmt.Errorf("sip listen %s: %w", s.cfg.Listen, err))
	}
	s.bound, s.unbind = &l, cancel
	return nil
}

// ListenAndServe serves SIP over UDP, TCP (and TLS) until ctx ends, then
// hangs up the calls still up and returns once every call has ended (its
// handler told, its recording finalized).
func (s *Server) ListenAndServe(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	l := s.bound
	defer s.unbind() // closes the stream listeners
	errc := make(chan error, 3)
	go func() { errc <- s.srv.ServeUDP(l.udp) }()
	go func() { errc <- s.srv.ServeTCP(l.tcp) }()
	if l.tls != nil {
		go func() { errc <- s.srv.ServeTLS(l.tls) }()
	}
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	l.udp.Close()
	s.unbind()
	s.hangupAll()
	s.ua.Close()
	if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("sip listen %s: %w", s.cfg.Listen, err)
	}
	return nil
}

func (s *Server) hangupAll() {
	s.mu.Lock()
	calls := make([]*Call, 0, len(s.calls))
	for _, c := range s.calls {
		calls = append(calls, c)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = c.bye(ctx)
			c.end(EndShutdown)
		})
	}
	wg.Wait()
	s.ends.Wait() // calls ending on their own: let them finish too
}

func (s *Server) forget(c *Call) {
	s.mu.Lock()
	if s.calls[c.dialog.ID] == c {
		delete(s.calls, c.dialog.ID)
		s.active.Add(-1)
	}
	s.mu.Unlock()
	s.callGone()
}

func (s *Server) lookup(req *sip.Request) *Call {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, log *slog.Logger) {
	if err := tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil)); err != nil {
		log.Debug("sip respond failed", "code", code, "err", err)
	}
}

// guard keeps a panic while handling one request from taking down the
// process and every other call.
func (s *Server) guard(req *sip.Request, tx sip.ServerTransaction) {
	if r := recover(); r != nil {
		s.log.Error("panic handling SIP request", "method", req.Method.String(), "panic", r, "stack", string(debug.Stack()))
		respond(tx, req, 500, "Server Internal Error", s.log)
	}
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	if c := s.lookup(req); c != nil {
		c.setAckSDP(req.Body()) // a delayed offer's answer (kept only then)
		if c.dialog.ReadAck(req, tx) == nil {
			s.takeReofferAnswer(c, req.Body()) // an SDP-less re-INVITE's answer
		}
	}
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	defer s.guard(req, tx)
	c := s.lookup(req)
	if c == nil {
		callID := req.CallID().Value() // admit saw it present; never evaluated under s.mu
		s.mu.Lock()
		bridged := s.legs[callID]
		s.mu.Unlock()
		if bridged != nil { // the transfer target hung up: so does the caller's leg
			respond(tx, req, 200, "OK", s.log)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = bridged.hangup(ctx, EndTargetHungUp)
			return
		}
		respond(tx, req, 481, "Call/Transaction Does Not Exist", s.log)
		return
	}
	if err := c.dialog.ReadBye(req, tx); err != nil {
		respond(tx, req, 481, "Call/Transaction Does Not Exist", s.log)
		return
	}
	c.end(EndRemoteHangup)
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.draining.Load() { // a proxy's dispatcher probe: send calls elsewhere
		res := sip.NewResponseFromRequest(req, 503, "Service Unavailable", nil)
		res.AppendHeader(sip.NewHeader("Retry-After", retryAfter))
		if err := tx.Respond(res); err != nil {
			s.log.Debug("sip respond failed", "err", err)
		}
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", allow))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "err", err)
	}
}

// sourceIP is the IP a request came from (the zero Addr if unknown).
func sourceIP(req *sip.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}

// listenStream listens on addr over TCP (TLS with conf), guarded
// (connguard: refused sources closed as accepted, connection bounds, the
// TLS handshake bounded and off the accept loop, accept errors backed off
// from), until ctx ends.
func (s *Server) listenStream(ctx context.Context, addr string, conf *tls.Config) (*connguard.Listener, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sip listen %s: %w", addr, err)
	}
	l := connguard.New(raw, connguard.Config{TLS: conf, HandshakeTimeout: s.cfg.TLSHandshakeTimeout,
		Admit: func(ip netip.Addr) (bool, bool) {
			return s.allowed(ip), len(s.cfg.Allow) > 0 && inPrefixes(s.cfg.Allow, ip)
		},
		MaxConns: s.cfg.MaxConnections, MaxPerSource: s.cfg.MaxConnectionsPerSource, Stats: &s.conns, Logger: s.noisy})
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	return l, nil
}
