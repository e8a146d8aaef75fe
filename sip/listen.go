package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// This file guards the stream listeners (TCP and TLS) before sipgo sees a
// connection: an accept error (out of file descriptors) never ends the
// server, a source the allow list refuses is closed at once, connections
// are bounded in all and per source, and a TLS handshake must finish
// within handshakeTimeout, off the accept loop.

const (
	// handshakeTimeout is Config.TLSHandshakeTimeout's default (a
	// half-sent ClientHello holds a descriptor until then).
	handshakeTimeout = 10 * time.Second
	// defaultMaxConns and defaultMaxConnsPerSource are Config's defaults.
	defaultMaxConns          = 4096
	defaultMaxConnsPerSource = 64
	// maxAcceptBackoff caps the wait after a failed accept.
	maxAcceptBackoff = time.Second
)

// connStats count what the stream listeners turned away.
type connStats struct {
	refused      atomic.Uint64 // from a source the allow list refuses
	overLimit    atomic.Uint64 // past the total or per-source bound
	handshake    atomic.Uint64 // TLS handshakes that failed or timed out
	acceptErrors atomic.Uint64 // accept errors (EMFILE, ...) the listener backed off from
}

// guardedListener is a TCP listener with those guards; with tlsConf set
// the connections it hands out are TLS, handshaken.
type guardedListener struct {
	raw     net.Listener
	tlsConf *tls.Config
	hsWait  time.Duration                           // TLS handshake bound
	admit   func(netip.Addr) (allowed, exempt bool) // allow list: served at all; free of the per-source bound
	maxAll  int
	maxPer  int
	stats   *connStats
	log     *slog.Logger

	mu        sync.Mutex
	total     int
	perSource map[netip.Addr]int

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	err       error // why the accept loop stopped (under mu)
}

func newGuardedListener(raw net.Listener, tlsConf *tls.Config, hsWait time.Duration, admit func(netip.Addr) (bool, bool), maxAll, maxPer int,
	stats *connStats, log *slog.Logger) *guardedListener {
	l := &guardedListener{raw: raw, tlsConf: tlsConf, hsWait: hsWait, admit: admit, maxAll: maxAll, maxPer: maxPer, stats: stats, log: log,
		perSource: map[netip.Addr]int{}, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.loop()
	return l
}

// loop accepts until the listener is closed; an error that is not the
// close is backed off from (5 ms doubling, at most 1 s), never returned.
func (l *guardedListener) loop() {
	backoff := 5 * time.Millisecond
	var lastLog time.Time
	for {
		c, err := l.raw.Accept()
		if err != nil {
			select {
			case <-l.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				l.mu.Lock()
				l.err = err
				l.mu.Unlock()
				l.Close()
				return
			}
			l.stats.acceptErrors.Add(1)
			if time.Since(lastLog) > 10*time.Second { // a flood must not flood the log
				lastLog = time.Now()
				l.log.Warn("SIP connection not accepted; retrying", "listen", l.raw.Addr().String(), "err", err)
			}
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			backoff = min(2*backoff, maxAcceptBackoff)
			continue
		}
		backoff = 5 * time.Millisecond
		l.take(c)
	}
}

// take admits or closes one accepted connection.
func (l *guardedListener) take(c net.Conn) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	src := ap.Addr().Unmap()
	allowed, exempt := l.admit(src)
	if err != nil || !allowed {
		l.stats.refused.Add(1)
		c.Close()
		return
	}
	l.mu.Lock()
	if l.total >= l.maxAll || (!exempt && l.perSource[src] >= l.maxPer) {
		l.mu.Unlock()
		l.stats.overLimit.Add(1)
		c.Close()
		return
	}
	l.total++
	l.perSource[src]++
	l.mu.Unlock()
	tc := &trackedConn{Conn: c, release: func() { l.release(src) }}
	if l.tlsConf == nil {
		l.handOut(tc)
		return
	}
	go l.handshake(tc)
}

// handshake completes a TLS connection's handshake within
// handshakeTimeout, then hands it out; a failure closes it.
func (l *guardedListener) handshake(c *trackedConn) {
	tc := tls.Server(c, l.tlsConf)
	ctx, cancel := context.WithTimeout(context.Background(), l.hsWait)
	defer cancel()
	_ = c.SetDeadline(time.Now().Add(l.hsWait))
	if err := tc.HandshakeContext(ctx); err != nil {
		l.stats.handshake.Add(1)
		tc.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	l.handOut(tc)
}

// handOut gives a connection to Accept, or closes it once the listener is
// closed.
func (l *guardedListener) handOut(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *guardedListener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perSource[src]--; l.perSource[src] <= 0 {
		delete(l.perSource, src)
	}
}

// Accept returns the next admitted connection.
func (l *guardedListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.err != nil {
			return nil, l.err
		}
		return nil, net.ErrClosed
	}
}

// Close stops accepting; connections handed out stay.
func (l *guardedListener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.raw.Close()
	})
	return err
}

// Addr is the listening address.
func (l *guardedListener) Addr() net.Addr { return l.raw.Addr() }

// open is how many connections the listener holds now.
func (l *guardedListener) open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// trackedConn gives its place back once, when closed.
type trackedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// listenStream listens on addr over TCP (TLS with conf), guarded, until ctx
// ends.
func (s *Server) listenStream(ctx context.Context, addr string, conf *tls.Config) (*guardedListener, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("sip listen %s: %w", addr, err)
	}
	admit := func(ip netip.Addr) (bool, bool) {
		return s.allowed(ip), len(s.cfg.Allow) > 0 && inPrefixes(s.cfg.Allow, ip)
	}
	l := newGuardedListener(raw, conf, s.cfg.TLSHandshakeTimeout, admit, s.cfg.MaxConnections, s.cfg.MaxConnectionsPerSource, &s.conns, s.log)
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	return l, nil
}
