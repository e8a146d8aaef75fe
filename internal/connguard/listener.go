package connguard

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// maxAcceptBackoff caps the wait after a failed accept.
const maxAcceptBackoff = time.Second

// Stats count what listeners turned away; share one among several.
type Stats struct {
	Refused      atomic.Uint64 // from a source Admit refuses
	OverLimit    atomic.Uint64 // past the total or per-source bound
	Handshake    atomic.Uint64 // TLS handshakes that failed or timed out
	AcceptErrors atomic.Uint64 // accept errors (EMFILE, ...) the listener backed off from
}

// Config is what a Listener guards with.
type Config struct {
	// TLS, if set, makes the connections handed out TLS, handshaken
	// within HandshakeTimeout (default 10 s).
	TLS              *tls.Config
	HandshakeTimeout time.Duration
	// Admit says whether a source is served at all (false: closed as
	// accepted), and whether it is exempt from MaxPerSource (an allow
	// list's members). nil: every source, none exempt.
	Admit func(netip.Addr) (allowed, exempt bool)
	// MaxConns bounds the connections held at once (default 4096);
	// MaxPerSource those from one IP (default 64).
	MaxConns, MaxPerSource int
	Stats                  *Stats // nil: counted nowhere
	Logger                 *slog.Logger
}

// Listener is a TCP listener with those guards.
type Listener struct {
	raw     net.Listener
	tlsConf *tls.Config
	hsWait  time.Duration
	admit   func(netip.Addr) (allowed, exempt bool)
	maxAll  int
	maxPer  int
	stats   *Stats
	log     *slog.Logger

	mu        sync.Mutex
	total     int
	perSource map[netip.Addr]int

	conns     chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	err       error // why the accept loop stopped (under mu)
}

// New guards raw: it accepts from it in its own goroutine until Close.
func New(raw net.Listener, cfg Config) *Listener {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 4096
	}
	if cfg.MaxPerSource <= 0 {
		cfg.MaxPerSource = 64
	}
	if cfg.Admit == nil {
		cfg.Admit = func(netip.Addr) (bool, bool) { return true, false }
	}
	if cfg.Stats == nil {
		cfg.Stats = &Stats{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Listener{raw: raw, tlsConf: cfg.TLS, hsWait: cfg.HandshakeTimeout, admit: cfg.Admit, maxAll: cfg.MaxConns, maxPer: cfg.MaxPerSource,
		stats: cfg.Stats, log: cfg.Logger, perSource: map[netip.Addr]int{}, conns: make(chan net.Conn), done: make(chan struct{})}
	go l.loop()
	return l
}

// loop accepts until the listener is closed; an error that is not the
// close is backed off from (5 ms doubling, at most 1 s), never returned.
func (l *Listener) loop() {
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
			l.stats.AcceptErrors.Add(1)
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
func (l *Listener) take(c net.Conn) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	src := ap.Addr().Unmap()
	allowed, exempt := l.admit(src)
	if err != nil || !allowed {
		l.stats.Refused.Add(1)
		c.Close()
		return
	}
	l.mu.Lock()
	if l.total >= l.maxAll || (!exempt && l.perSource[src] >= l.maxPer) {
		l.mu.Unlock()
		l.stats.OverLimit.Add(1)
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
func (l *Listener) handshake(c *trackedConn) {
	tc := tls.Server(c, l.tlsConf)
	ctx, cancel := context.WithTimeout(context.Background(), l.hsWait)
	defer cancel()
	_ = c.SetDeadline(time.Now().Add(l.hsWait))
	if err := tc.HandshakeContext(ctx); err != nil {
		l.stats.Handshake.Add(1)
		tc.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	l.handOut(tc)
}

// handOut gives a connection to Accept, or closes it once the listener is
// closed.
func (l *Listener) handOut(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *Listener) release(src netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perSource[src]--; l.perSource[src] <= 0 {
		delete(l.perSource, src)
	}
}

// Accept returns the next admitted connection.
func (l *Listener) Accept() (net.Conn, error) {
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
func (l *Listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.raw.Close()
	})
	return err
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.raw.Addr() }

// Open is how many connections the listener holds now.
func (l *Listener) Open() int {
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
