package streaming

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
)

// errConnLost fails the requests in flight when a socket drops.
var errConnLost = errors.New("bot streaming connection lost")

// response is a complete response to one of our requests.
type response struct {
	status int
	body   []byte
}

// conn is one WebSocket to the bot: it sends our requests and matches their
// responses, and serves the bot's requests with handler.
type conn struct {
	ws      *websocket.Conn
	handler http.Handler
	log     *slog.Logger

	writeMu sync.Mutex // gorilla allows one writer at a time

	mu      sync.Mutex
	asm     *assembler
	pending map[string]chan response // our requests by id
	failure error
	dead    chan struct{}
}

func newConn(ws *websocket.Conn, handler http.Handler, log *slog.Logger) *conn {
	c := &conn{ws: ws, handler: handler, log: log, asm: newAssembler(),
		pending: map[string]chan response{}, dead: make(chan struct{})}
	ws.SetReadLimit(maxPayload + headerLen + 1024)
	go c.readLoop()
	go c.expireLoop()
	return c
}

func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

func (c *conn) err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.failure
}

// close fails the requests in flight and closes the socket; the first
// error is kept.
func (c *conn) close(err error) {
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
func (c *conn) writeFrames(typ frameType, id string, payload []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for first := true; first || len(payload) > 0; first = false {
		n := min(len(payload), maxPayload)
		h := header{typ: typ, length: n, id: id, end: n == len(payload)}
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

// send writes a request or response: its header payload, then its body as
// one JSON stream (none when body is empty).
func (c *conn) send(typ frameType, id string, head any, streamID string, body []byte) error {
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	if err := c.writeFrames(typ, id, hb); err != nil {
		return err
	}
	if len(body) == 0 {
		return nil
	}
	return c.writeFrames(typeStream, streamID, body)
}

// request sends verb+path with a JSON body and waits for the response.
func (c *conn) request(ctx context.Context, verb, path string, body []byte) (response, error) {
	id, sid := uuid.NewString(), uuid.NewString()
	ch := make(chan response, 1)
	c.mu.Lock()
	if c.failure != nil {
		c.mu.Unlock()
		return response{}, errConnLost
	}
	c.pending[id] = ch
	c.mu.Unlock()
	head := requestPayload{Verb: verb, Path: path, Streams: jsonStream(sid, len(body))}
	if err := c.send(typeRequest, id, head, sid, body); err != nil {
		c.close(fmt.Errorf("write: %w", err))
		return response{}, errConnLost
	}
	select {
	case res, ok := <-ch:
		if !ok {
			return response{}, errConnLost
		}
		return res, nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return response{}, fmt.Errorf("bot did not answer over the stream: %w", ctx.Err())
	}
}

func (c *conn) readLoop() {
	r := &frameReader{ws: c.ws}
	for {
		h, payload, err := r.next()
		if err == nil {
			err = c.frame(h, payload)
		}
		if err != nil {
			c.close(err)
			return
		}
	}
}

// expireLoop drops assemblies whose frames stopped coming.
func (c *conn) expireLoop() {
	t := time.NewTicker(assemblyTTL / 4)
	defer t.Stop()
	for {
		select {
		case <-c.dead:
			return
		case now := <-t.C:
			c.mu.Lock()
			n := c.asm.expire(now.Add(-assemblyTTL))
			c.mu.Unlock()
			if n > 0 {
				c.log.Warn("streaming messages never completed were dropped", "count", n)
			}
		}
	}
}

// frame takes one frame: a completed response goes to its waiting request,
// a completed request is served.
func (c *conn) frame(h header, payload []byte) error {
	m, reply, err := c.assemble(h, payload)
	if err != nil || m == nil {
		return err
	}
	if m.typ == typeRequest {
		go c.serve(m)
	} else if reply != nil {
		reply <- response{status: m.res.StatusCode, body: m.body}
	}
	return nil
}

// assemble adds a frame under the lock and, for a completed response, takes
// the channel its request waits on.
func (c *conn) assemble(h header, payload []byte) (*message, chan response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, err := c.asm.add(h, payload, time.Now())
	if err != nil || m == nil || m.typ != typeResponse {
		return m, nil, err
	}
	reply := c.pending[m.id]
	delete(c.pending, m.id)
	return m, reply, nil
}
