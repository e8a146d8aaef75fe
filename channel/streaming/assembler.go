package streaming

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Assembly limits: what one peer can make the gateway hold.
const (
	maxHeaderPayload = 64 << 10 // a request's or response's JSON header
	maxMessage       = 4 << 20  // one request or response, header and streams
	maxBuffered      = 16 << 20 // everything waiting on one socket
	maxWaiting       = 256      // requests/responses waiting for frames
	maxOrphans       = 64       // streams waiting for the request that names them
	assemblyTTL      = 30 * time.Second
)

// message is a complete request or response.
type message struct {
	id   string
	typ  frameType
	req  requestPayload
	res  responsePayload
	body []byte // the first stream's data
}

// assembly is a request or response waiting for its frames.
type assembly struct {
	id      string
	typ     frameType
	head    bytes.Buffer // the header payload, until it ends
	headEnd bool
	req     requestPayload
	res     responsePayload
	streams []streamDesc
	bodies  map[string]*bytes.Buffer
	ended   map[string]bool
	size    int
	started time.Time
}

// orphan is a stream's data received before the request naming it.
type orphan struct {
	buf     bytes.Buffer
	ended   bool
	started time.Time
}

// assembler puts frames back together into messages. It holds no lock: its
// owner serializes calls. Everything it buffers is counted in buffered and
// bounded by the limits above.
type assembler struct {
	waiting  map[string]*assembly // by request/response id
	byStream map[string]*assembly // the same, by their streams' ids
	orphans  map[string]*orphan
	buffered int
}

func newAssembler() *assembler {
	return &assembler{waiting: map[string]*assembly{}, byStream: map[string]*assembly{}, orphans: map[string]*orphan{}}
}

// Errors that close the socket: the peer broke the protocol or a limit.
var (
	errTooLarge  = errors.New("streaming message too large")
	errTooMany   = errors.New("too many streaming messages waiting")
	errFrameType = errors.New("unknown streaming frame type")
)

// add takes one frame and returns the message it completed, if any.
func (s *assembler) add(h header, payload []byte, now time.Time) (*message, error) {
	if s.buffered+len(payload) > maxBuffered {
		return nil, errTooLarge
	}
	switch h.typ {
	case typeRequest, typeResponse:
		return s.addHead(h, payload, now)
	case typeStream:
		return s.addStream(h, payload, now)
	case typeCancelAll, typeCancel:
		if a := s.byStream[h.id]; a != nil {
			s.forget(a)
		}
		if o := s.orphans[h.id]; o != nil {
			s.buffered -= o.buf.Len()
			delete(s.orphans, h.id)
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w %q", errFrameType, byte(h.typ))
}

// addHead takes a frame of a request's or response's header payload.
func (s *assembler) addHead(h header, payload []byte, now time.Time) (*message, error) {
	a := s.waiting[h.id]
	if a == nil {
		if len(s.waiting) >= maxWaiting {
			return nil, errTooMany
		}
		a = &assembly{id: h.id, typ: h.typ, bodies: map[string]*bytes.Buffer{}, ended: map[string]bool{}, started: now}
		s.waiting[h.id] = a
	}
	if a.headEnd || a.typ != h.typ {
		return nil, fmt.Errorf("streaming %c header for %s repeated", h.typ, h.id)
	}
	if a.head.Len()+len(payload) > maxHeaderPayload {
		return nil, fmt.Errorf("%w: header payload over %d bytes", errTooLarge, maxHeaderPayload)
	}
	a.head.Write(payload)
	a.size += len(payload)
	s.buffered += len(payload)
	if !h.end {
		return nil, nil
	}
	var err error
	if a.typ == typeRequest {
		err = json.Unmarshal(a.head.Bytes(), &a.req)
		a.streams = a.req.Streams
	} else {
		err = json.Unmarshal(a.head.Bytes(), &a.res)
		a.streams = a.res.Streams
	}
	if err != nil {
		return nil, fmt.Errorf("streaming %c payload: %w", h.typ, err)
	}
	s.buffered -= a.head.Len()
	a.size -= a.head.Len()
	a.head = bytes.Buffer{}
	a.headEnd = true
	for _, d := range a.streams {
		if s.byStream[d.ID] != nil {
			return nil, fmt.Errorf("streaming stream %s named twice", d.ID)
		}
		s.byStream[d.ID] = a
		if o := s.orphans[d.ID]; o != nil {
			a.bodies[d.ID], a.ended[d.ID] = &o.buf, o.ended
			a.size += o.buf.Len()
			delete(s.orphans, d.ID)
		}
	}
	if a.size > maxMessage {
		return nil, errTooLarge
	}
	return s.complete(a), nil
}

// addStream takes a frame of body data.
func (s *assembler) addStream(h header, payload []byte, now time.Time) (*message, error) {
	a := s.byStream[h.id]
	if a == nil {
		o := s.orphans[h.id]
		if o == nil {
			if len(s.orphans) >= maxOrphans {
				return nil, errTooMany
			}
			o = &orphan{started: now}
			s.orphans[h.id] = o
		}
		if o.buf.Len()+len(payload) > maxMessage {
			return nil, errTooLarge
		}
		o.buf.Write(payload)
		o.ended = o.ended || h.end
		s.buffered += len(payload)
		return nil, nil
	}
	if a.size+len(payload) > maxMessage {
		return nil, errTooLarge
	}
	buf := a.bodies[h.id]
	if buf == nil {
		buf = &bytes.Buffer{}
		a.bodies[h.id] = buf
	}
	buf.Write(payload)
	a.size += len(payload)
	s.buffered += len(payload)
	if h.end {
		a.ended[h.id] = true
	}
	return s.complete(a), nil
}

// complete returns a's message and forgets it once its header and every
// stream it names have ended; otherwise nil.
func (s *assembler) complete(a *assembly) *message {
	if !a.headEnd {
		return nil
	}
	for _, d := range a.streams {
		if !a.ended[d.ID] {
			return nil
		}
	}
	s.forget(a)
	m := &message{id: a.id, typ: a.typ, req: a.req, res: a.res}
	if len(a.streams) > 0 {
		if b := a.bodies[a.streams[0].ID]; b != nil {
			m.body = b.Bytes()
		}
	}
	return m
}

// forget drops a and what it buffered.
func (s *assembler) forget(a *assembly) {
	delete(s.waiting, a.id)
	for _, d := range a.streams {
		if s.byStream[d.ID] == a {
			delete(s.byStream, d.ID)
		}
	}
	s.buffered -= a.size
}

// expire drops assemblies and orphans started before cutoff: their
// missing frames are not coming. It returns how many it dropped.
func (s *assembler) expire(cutoff time.Time) int {
	n := 0
	for _, a := range s.waiting {
		if a.started.Before(cutoff) {
			s.forget(a)
			n++
		}
	}
	for id, o := range s.orphans {
		if o.started.Before(cutoff) {
			s.buffered -= o.buf.Len()
			delete(s.orphans, id)
			n++
		}
	}
	return n
}
