package streaming

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/botline/botline/activity"
	"github.com/botline/botline/internal/retry"
	"github.com/gorilla/websocket"
)

// ErrClosed is returned by deliveries after Close.
var ErrClosed = errors.New("streaming transport closed")

// StatusError is a delivery the bot answered with a non-2xx status.
type StatusError struct {
	Code int
	Body string
}

func (e *StatusError) Error() string { return fmt.Sprintf("bot answered %d: %s", e.Code, e.Body) }

// Client delivers activities to a bot over the streaming protocol: it opens
// a WebSocket to the bot's endpoint, sends each activity as a request
// POST /api/messages, and serves the bot's Connector API calls (requests on
// the same socket) with the handler bound by BindConnector. When the socket
// drops it dials again, at once and then with backoff, and a delivery cut
// off by the drop is sent again on the new socket.
type Client struct {
	endpoint string
	log      *slog.Logger
	timeout  time.Duration
	token    func() (string, error) // bearer token of the upgrade; nil: none

	mu        sync.Mutex
	connector http.Handler
	conn      *conn
	closed    bool
	dialMu    sync.Mutex // one dial at a time
}

// Option configures a Client.
type Option func(*Client)

// WithLogger sets the client's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.log = l } }

// WithToken makes every WebSocket upgrade carry "Authorization: Bearer
// <token()>", which the bot validates as it does a channel's HTTP request.
func WithToken(token func() (string, error)) Option { return func(c *Client) { c.token = token } }

// WithTimeout bounds one delivery, reconnects included (default 30 s).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// NewClient returns a client of the bot at endpoint (http(s):// or
// ws(s)://). It dials when Connect or Deliver first needs the socket.
func NewClient(endpoint string, opts ...Option) *Client {
	c := &Client{endpoint: endpoint, log: slog.Default(), timeout: 30 * time.Second, connector: http.NotFoundHandler()}
	for _, o := range opts {
		o(c)
	}
	return c
}

// BindConnector sets the handler that serves the bot's requests (the
// gateway's Connector API). The gateway binds it when it is built, before
// anything is delivered.
func (c *Client) BindConnector(h http.Handler) {
	c.mu.Lock()
	c.connector = h
	c.mu.Unlock()
}

// url is the endpoint with a WebSocket scheme.
func (c *Client) url() string {
	u := c.endpoint
	if rest, ok := strings.CutPrefix(u, "http://"); ok {
		return "ws://" + rest
	}
	if rest, ok := strings.CutPrefix(u, "https://"); ok {
		return "wss://" + rest
	}
	return u
}

// Connect opens the socket now (the gateway does at start, so the bot can
// send at once); Deliver opens it too when it is down.
func (c *Client) Connect(ctx context.Context) error {
	_, err := c.connection(ctx)
	return err
}

// Close closes the socket and stops reconnecting.
func (c *Client) Close() error {
	c.mu.Lock()
	c.closed = true
	cn := c.conn
	c.conn = nil
	c.mu.Unlock()
	if cn != nil {
		cn.close(ErrClosed)
	}
	return nil
}

// connection returns the open socket, dialing with backoff until ctx ends.
func (c *Client) connection(ctx context.Context) (*conn, error) {
	backoff := retry.Backoff{First: 50 * time.Millisecond, Max: 2 * time.Second}
	for {
		c.mu.Lock()
		cn, closed := c.conn, c.closed
		c.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		if cn != nil && !cn.isDead() {
			return cn, nil
		}
		cn, err := c.dial(ctx)
		if err == nil {
			return cn, nil
		}
		wait := backoff.Next()
		c.log.Warn("bot streaming connection failed", "endpoint", c.endpoint, "err", err, "retryIn", wait.String())
		if !retry.Sleep(ctx, wait) {
			return nil, fmt.Errorf("connect to bot %s: %w (last error: %w)", c.endpoint, ctx.Err(), err)
		}
	}
}

func (c *Client) dial(ctx context.Context) (*conn, error) {
	c.dialMu.Lock()
	defer c.dialMu.Unlock()
	c.mu.Lock()
	if cn := c.conn; cn != nil && !cn.isDead() {
		c.mu.Unlock()
		return cn, nil
	}
	handler := c.connector
	c.mu.Unlock()
	hdr := http.Header{}
	hdr.Set("channelid", activity.ChannelID)
	if c.token != nil {
		tok, err := c.token()
		if err != nil {
			return nil, fmt.Errorf("token for the bot: %w", err)
		}
		hdr.Set("Authorization", "Bearer "+tok)
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, res, err := d.DialContext(ctx, c.url(), hdr)
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("websocket upgrade answered %s: %w", res.Status, err)
		}
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	cn := newConn(ws, handler, c.log)
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		cn.close(ErrClosed)
		return nil, ErrClosed
	}
	c.conn = cn
	c.mu.Unlock()
	c.log.Info("bot streaming connection open", "endpoint", c.endpoint)
	go c.redialWhenLost(cn)
	return cn, nil
}

// redialWhenLost dials again as soon as cn drops, so the bot can reach the
// gateway before its next delivery.
func (c *Client) redialWhenLost(cn *conn) {
	<-cn.dead
	c.log.Warn("bot streaming connection lost", "endpoint", c.endpoint, "err", cn.err())
	c.mu.Lock()
	again := !c.closed && c.conn == cn
	c.mu.Unlock()
	if again {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = c.connection(ctx)
	}
}

// Deliver sends the activity as POST /api/messages and waits for the
// bot's response; a 2xx accepts it. A delivery whose socket dropped before
// the response is sent again on the next socket.
func (c *Client) Deliver(ctx context.Context, a *activity.Activity) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode activity: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	for {
		cn, err := c.connection(ctx)
		if err != nil {
			return err
		}
		res, err := cn.request(ctx, "POST", "/api/messages", body)
		if errors.Is(err, errConnLost) {
			continue // the socket dropped: send again on the next one
		}
		if err != nil {
			return err
		}
		if res.status/100 != 2 {
			return &StatusError{res.status, string(bytes.TrimSpace(res.body))}
		}
		return nil
	}
}
