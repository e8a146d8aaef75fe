package channel

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/botline/botline/activity"
	"github.com/gorilla/websocket"
)

// Bot Framework streaming framing (PROTOCOL.md, Transport 2): every frame
// is a 48-byte ASCII header "T.LLLLLL.<uuid>.E\n" and up to 4096 bytes of
// payload.
const (
	frameHeaderLen  = 48
	maxFramePayload = 4096
	frameRequest    = 'A'
	frameResponse   = 'B'
	frameStream     = 'S'
	frameCancelAll  = 'X'
	frameCancel     = 'C'
	// maxAssembly bounds one request's or response's streams, so a peer
	// cannot make us buffer without end.
	maxAssembly = 4 << 20
)

// frameHeader is one parsed frame header.
type frameHeader struct {
	typ    byte
	length int
	id     string
	end    bool
}

func (h frameHeader) marshal() []byte {
	return fmt.Appendf(nil, "%c.%06d.%s.%d\n", h.typ, h.length, h.id, map[bool]int{false: 0, true: 1}[h.end])
}

var errBadFrame = errors.New("malformed streaming frame header")

func parseFrameHeader(b []byte) (frameHeader, error) {
	if len(b) != frameHeaderLen || b[1] != '.' || b[8] != '.' || b[45] != '.' || b[47] != '\n' {
		return frameHeader{}, errBadFrame
	}
	n, err := strconv.Atoi(string(b[2:8]))
	if err != nil || n < 0 || n > 999999 {
		return frameHeader{}, errBadFrame
	}
	if b[46] != '0' && b[46] != '1' {
		return frameHeader{}, errBadFrame
	}
	return frameHeader{typ: b[0], length: n, id: string(b[9:45]), end: b[46] == '1'}, nil
}

// streamDesc describes one body stream of a request or response.
type streamDesc struct {
	ID          string `json:"id"`
	Type        string `json:"type,omitempty"` // what botbuilder-js and -dotnet send
	ContentType string `json:"contentType,omitempty"`
	Length      int    `json:"length,omitempty"`
}

type requestPayload struct {
	Verb    string       `json:"verb"`
	Path    string       `json:"path"`
	Streams []streamDesc `json:"streams,omitempty"`
}

type responsePayload struct {
	StatusCode int          `json:"statusCode"`
	Streams    []streamDesc `json:"streams,omitempty"`
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// StreamingBot delivers activities over the Bot Framework streaming
// protocol (Transport 2): the gateway opens a WebSocket to the bot's
// endpoint, sends each activity as a POST request on it, and serves the
// bot's Connector API calls (requests on the same socket) with Connector.
// When the socket drops it dials again, at once and then with backoff, and
// a delivery cut off by the drop is sent again on the new socket.
type StreamingBot struct {
	Endpoint  string       // the bot's messaging endpoint, http(s):// or ws(s)://
	Connector http.Handler // serves the bot's requests (Gateway.Handler)
	Logger    *slog.Logger
	// Timeout bounds one delivery, reconnects included; default 30 s.
	Timeout time.Duration

	mu     sync.Mutex
	conn   *streamConn
	dialMu sync.Mutex // one dial at a time
	closed bool
}

// ErrStreamClosed is returned by deliveries after Close.
var ErrStreamClosed = errors.New("streaming transport closed")

func (b *StreamingBot) log() *slog.Logger {
	if b.Logger == nil {
		return slog.Default()
	}
	return b.Logger
}

func (b *StreamingBot) url() string {
	u := b.Endpoint
	switch {
	case strings.HasPrefix(u, "http://"):
		u = "ws://" + strings.TrimPrefix(u, "http://")
	case strings.HasPrefix(u, "https://"):
		u = "wss://" + strings.TrimPrefix(u, "https://")
	}
	return u
}

// Connect opens the socket now (the gateway does at start, so the bot can
// send at once); Deliver opens it too when it is down.
func (b *StreamingBot) Connect(ctx context.Context) error {
	_, err := b.connection(ctx)
	return err
}

// Close closes the socket and stops reconnecting.
func (b *StreamingBot) Close() error {
	b.mu.Lock()
	b.closed = true
	c := b.conn
	b.conn = nil
	b.mu.Unlock()
	if c != nil {
		c.close(ErrStreamClosed)
	}
	return nil
}

// connection returns the open socket, dialing with backoff until ctx ends.
func (b *StreamingBot) connection(ctx context.Context) (*streamConn, error) {
	backoff := 50 * time.Millisecond
	for {
		b.mu.Lock()
		c, closed := b.conn, b.closed
		b.mu.Unlock()
		if closed {
			return nil, ErrStreamClosed
		}
		if c != nil && !c.isDead() {
			return c, nil
		}
		c, err := b.dial(ctx)
		if err == nil {
			return c, nil
		}
		b.log().Warn("bot streaming connection failed", "endpoint", b.Endpoint, "err", err, "retryIn", backoff.String())
		select {
		case <-time.After(backoff):
			backoff = min(2*backoff, 2*time.Second)
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to bot %s: %w (last error: %w)", b.Endpoint, ctx.Err(), err)
		}
	}
}

func (b *StreamingBot) dial(ctx context.Context) (*streamConn, error) {
	b.dialMu.Lock()
	defer b.dialMu.Unlock()
	b.mu.Lock()
	if c := b.conn; c != nil && !c.isDead() {
		b.mu.Unlock()
		return c, nil
	}
	b.mu.Unlock()
	hdr := http.Header{}
	hdr.Set("channelid", activity.ChannelID)
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, res, err := d.DialContext(ctx, b.url(), hdr)
	if err != nil {
		if res != nil {
			return nil, fmt.Errorf("websocket upgrade answered %s: %w", res.Status, err)
		}
		return nil, fmt.Errorf("websocket dial: %w", err)
	}
	c := newStreamConn(ws, b.Connector, b.log())
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		c.close(ErrStreamClosed)
		return nil, ErrStreamClosed
	}
	b.conn = c
	b.mu.Unlock()
	b.log().Info("bot streaming connection open", "endpoint", b.Endpoint)
	go func() {
		<-c.dead
		b.log().Warn("bot streaming connection lost", "endpoint", b.Endpoint, "err", c.err())
		b.mu.Lock()
		again := !b.closed && b.conn == c
		b.mu.Unlock()
		if again { // reconnect now, so the bot can reach us before our next delivery
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = b.connection(ctx)
		}
	}()
	return c, nil
}

// Deliver sends the activity as POST /api/messages and waits for the
// bot's response; a 2xx accepts it. A delivery whose socket dropped before
// the response is sent again on the next socket.
func (b *StreamingBot) Deliver(ctx context.Context, a *activity.Activity) error {
	body, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode activity: %w", err)
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		c, err := b.connection(ctx)
		if err != nil {
			return err
		}
		status, resBody, err := c.request(ctx, "POST", "/api/messages", body)
		if errors.Is(err, errConnLost) {
			continue // the socket dropped: send again on the next one
		}
		if err != nil {
			return err
		}
		if status/100 != 2 {
			return &statusError{status, string(bytes.TrimSpace(resBody))}
		}
		return nil
	}
}

// errConnLost fails the requests in flight when a socket drops.
var errConnLost = errors.New("bot streaming connection lost")

// streamConn is one WebSocket to the bot.
type streamConn struct {
	ws        *websocket.Conn
	connector http.Handler
	log       *slog.Logger

	writeMu sync.Mutex // gorilla allows one writer at a time

	mu       sync.Mutex
	pending  map[string]chan assembled // our requests by id
	asm      map[string]*assembly      // requests/responses being received, by id
	byStream map[string]*assembly      // the same, by their streams' ids
	orphans  map[string]*orphan        // stream data that came before its header
	failure  error
	dead     chan struct{}
}

// orphan is a stream's data received before the request naming it.
type orphan struct {
	buf   bytes.Buffer
	ended bool
}

// assembly is a request or response waiting for its streams.
type assembly struct {
	id      string
	typ     byte
	req     requestPayload
	res     responsePayload
	bodies  map[string]*bytes.Buffer
	ended   map[string]bool
	streams []streamDesc
	size    int
}

// assembled is a complete response.
type assembled struct {
	status int
	body   []byte
}

func newStreamConn(ws *websocket.Conn, connector http.Handler, log *slog.Logger) *streamConn {
	c := &streamConn{
		ws: ws, connector: connector, log: log,
		pending: map[string]chan assembled{}, asm: map[string]*assembly{},
		byStream: map[string]*assembly{}, orphans: map[string]*orphan{},
		dead: make(chan struct{}),
	}
	ws.SetReadLimit(maxFramePayload + frameHeaderLen + 1024)
	go c.readLoop()
	return c
}

func (c *streamConn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

func (c *streamConn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failure
}

func (c *streamConn) close(err error) {
	c.mu.Lock()
	if c.failure != nil {
		c.mu.Unlock()
		return
	}
	c.failure = err
	for id, ch := range c.pending {
		close(ch)
		delete(c.pending, id)
	}
	c.mu.Unlock()
	_ = c.ws.Close()
	close(c.dead)
}

// writeFrames sends a payload as frames of at most 4096 bytes, each header
// and chunk a WebSocket binary message of its own (as botbuilder does).
func (c *streamConn) writeFrames(typ byte, id string, payload []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for first := true; first || len(payload) > 0; first = false {
		n := min(len(payload), maxFramePayload)
		h := frameHeader{typ: typ, length: n, id: id, end: n == len(payload)}
		if err := c.ws.WriteMessage(websocket.BinaryMessage, h.marshal()); err != nil {
			return err
		}
		if n > 0 {
			if err := c.ws.WriteMessage(websocket.BinaryMessage, payload[:n]); err != nil {
				return err
			}
		}
		payload = payload[n:]
	}
	return nil
}

// send writes the header payload of a request or response.
func (c *streamConn) send(typ byte, id string, head any) error {
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	return c.writeFrames(typ, id, hb)
}

// request sends verb+path with a JSON body and waits for the response.
func (c *streamConn) request(ctx context.Context, verb, path string, body []byte) (int, []byte, error) {
	id, sid := newUUID(), newUUID()
	ch := make(chan assembled, 1)
	c.mu.Lock()
	if c.failure != nil {
		c.mu.Unlock()
		return 0, nil, errConnLost
	}
	c.pending[id] = ch
	c.mu.Unlock()
	const ct = "application/json; charset=utf-8"
	head := requestPayload{Verb: verb, Path: path, Streams: []streamDesc{{ID: sid, Type: ct, ContentType: ct, Length: len(body)}}}
	err := c.send(frameRequest, id, head)
	if err == nil {
		err = c.writeFrames(frameStream, sid, body)
	}
	if err != nil {
		c.close(fmt.Errorf("write: %w", err))
		return 0, nil, errConnLost
	}
	select {
	case res, ok := <-ch:
		if !ok {
			return 0, nil, errConnLost
		}
		return res.status, res.body, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return 0, nil, fmt.Errorf("bot did not answer over the stream: %w", ctx.Err())
	}
}

// msgReader reads the WebSocket's messages as one byte stream: frames may
// span messages or share one.
type msgReader struct {
	ws  *websocket.Conn
	cur io.Reader
}

// Read reads across message boundaries.
func (r *msgReader) Read(p []byte) (int, error) {
	for {
		if r.cur == nil {
			typ, rd, err := r.ws.NextReader()
			if err != nil {
				return 0, err
			}
			if typ != websocket.BinaryMessage && typ != websocket.TextMessage {
				continue
			}
			r.cur = rd
		}
		n, err := r.cur.Read(p)
		if errors.Is(err, io.EOF) {
			r.cur = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (c *streamConn) readLoop() {
	r := &msgReader{ws: c.ws}
	hdr := make([]byte, frameHeaderLen)
	for {
		if _, err := io.ReadFull(r, hdr); err != nil {
			c.close(fmt.Errorf("read: %w", err))
			return
		}
		h, err := parseFrameHeader(hdr)
		if err != nil {
			c.close(fmt.Errorf("%w: %q", err, hdr))
			return
		}
		payload := make([]byte, h.length)
		if _, err := io.ReadFull(r, payload); err != nil {
			c.close(fmt.Errorf("read: %w", err))
			return
		}
		if err := c.frame(h, payload); err != nil {
			c.close(err)
			return
		}
	}
}

// frame takes one frame; a request or response is complete once its
// header and every stream it names have ended.
func (c *streamConn) frame(h frameHeader, payload []byte) error {
	c.mu.Lock()
	var done *assembly
	switch h.typ {
	case frameRequest, frameResponse:
		a := c.asm[h.id]
		if a == nil {
			a = &assembly{id: h.id, typ: h.typ, bodies: map[string]*bytes.Buffer{}, ended: map[string]bool{}}
			c.asm[h.id] = a
		}
		// a header payload larger than one frame arrives in several
		buf := a.bodies[""]
		if buf == nil {
			buf = &bytes.Buffer{}
			a.bodies[""] = buf
		}
		buf.Write(payload)
		if !h.end {
			break
		}
		var err error
		if h.typ == frameRequest {
			err = json.Unmarshal(buf.Bytes(), &a.req)
			a.streams = a.req.Streams
		} else {
			err = json.Unmarshal(buf.Bytes(), &a.res)
			a.streams = a.res.Streams
		}
		if err != nil {
			c.mu.Unlock()
			return fmt.Errorf("streaming %c payload: %w", h.typ, err)
		}
		delete(a.bodies, "")
		a.ended[""] = true
		for _, s := range a.streams {
			c.byStream[s.ID] = a
			if o := c.orphans[s.ID]; o != nil {
				a.bodies[s.ID] = &o.buf
				a.ended[s.ID] = o.ended
				delete(c.orphans, s.ID)
			}
		}
		if a.complete() {
			done = a
		}
	case frameStream:
		a := c.byStream[h.id]
		if a == nil {
			o := c.orphans[h.id]
			if o == nil {
				if len(c.orphans) > 64 {
					c.mu.Unlock()
					return errors.New("too many streams without a request")
				}
				o = &orphan{}
				c.orphans[h.id] = o
			}
			if o.buf.Len()+len(payload) > maxAssembly {
				c.mu.Unlock()
				return errors.New("streaming body too large")
			}
			o.buf.Write(payload)
			o.ended = o.ended || h.end
			break
		}
		buf := a.bodies[h.id]
		if buf == nil {
			buf = &bytes.Buffer{}
			a.bodies[h.id] = buf
		}
		a.size += len(payload)
		if a.size > maxAssembly {
			c.mu.Unlock()
			return errors.New("streaming body too large")
		}
		buf.Write(payload)
		if h.end {
			a.ended[h.id] = true
		}
		if a.complete() {
			done = a
		}
	case frameCancelAll, frameCancel:
		if a := c.byStream[h.id]; a != nil {
			c.forget(a)
		}
		delete(c.orphans, h.id)
	default:
		c.mu.Unlock()
		return fmt.Errorf("unknown streaming frame type %q", h.typ)
	}
	if done != nil {
		c.forget(done)
	}
	var reply chan assembled
	if done != nil && done.typ == frameResponse {
		reply = c.pending[done.id]
		delete(c.pending, done.id)
	}
	c.mu.Unlock()
	if done == nil {
		return nil
	}
	if done.typ == frameResponse {
		if reply != nil {
			reply <- assembled{status: done.res.StatusCode, body: done.body()}
		}
		return nil
	}
	go c.serve(done)
	return nil
}

func (a *assembly) complete() bool {
	if !a.ended[""] {
		return false
	}
	for _, s := range a.streams {
		if !a.ended[s.ID] {
			return false
		}
	}
	return true
}

func (a *assembly) body() []byte {
	if len(a.streams) == 0 {
		return nil
	}
	if b := a.bodies[a.streams[0].ID]; b != nil {
		return b.Bytes()
	}
	return nil
}

// forget drops an assembly's indexes; c.mu is held.
func (c *streamConn) forget(a *assembly) {
	delete(c.asm, a.id)
	for _, s := range a.streams {
		delete(c.byStream, s.ID)
	}
}

// serve answers the bot's request (a Connector API call) through the same
// handler as HTTP, and sends the response on the socket.
func (c *streamConn) serve(a *assembly) {
	status, body := http.StatusBadRequest, []byte(`{"error":{"code":"BadArgument","message":"bad streaming request"}}`)
	if req, err := http.NewRequest(strings.ToUpper(a.req.Verb), a.req.Path, bytes.NewReader(a.body())); err == nil {
		req.Header.Set("Content-Type", "application/json")
		w := &bufferedResponse{header: http.Header{}, status: http.StatusOK}
		c.connector.ServeHTTP(w, req)
		status, body = w.status, w.body.Bytes()
	}
	sid := newUUID()
	const ct = "application/json; charset=utf-8"
	head := responsePayload{StatusCode: status}
	if len(body) > 0 {
		head.Streams = []streamDesc{{ID: sid, Type: ct, ContentType: ct, Length: len(body)}}
	}
	err := c.send(frameResponse, a.id, head)
	if err == nil && len(body) > 0 {
		err = c.writeFrames(frameStream, sid, body)
	}
	if err != nil {
		c.log.Warn("streaming response not sent", "path", a.req.Path, "err", err)
		c.close(fmt.Errorf("write: %w", err))
	}
}

// bufferedResponse is the http.ResponseWriter of a request that came over
// the socket.
type bufferedResponse struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

// Header returns the response headers (not sent: the frame has none).
func (w *bufferedResponse) Header() http.Header { return w.header }

// WriteHeader keeps the first status.
func (w *bufferedResponse) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
}

// Write buffers the body.
func (w *bufferedResponse) Write(b []byte) (int, error) {
	w.wrote = true
	return w.body.Write(b)
}
