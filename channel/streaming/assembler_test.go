package streaming

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
)

var t0 = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)

// A response whose body stream arrives in chunks, one before its header,
// completes once every stream has ended, and leaves nothing behind.
func TestAssembly(t *testing.T) {
	s := newAssembler()
	rid, sid := uuid.NewString(), uuid.NewString()
	must := func(m *message, err error) *message {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if m := must(s.add(header{typ: typeStream, id: sid, length: 3}, []byte(`{"a`), t0)); m != nil {
		t.Fatal("complete from a lone stream")
	}
	head := `{"statusCode":202,"streams":[{"id":"` + sid + `","type":"application/json","length":8}]}`
	if m := must(s.add(header{typ: typeResponse, id: rid, end: true}, []byte(head), t0)); m != nil {
		t.Fatal("complete before the stream ended")
	}
	m := must(s.add(header{typ: typeStream, id: sid, end: true}, []byte(`":1}`), t0))
	if m == nil || m.id != rid || m.res.StatusCode != 202 || string(m.body) != `{"a":1}` {
		t.Fatalf("message %+v", m)
	}
	if len(s.waiting)+len(s.byStream)+len(s.orphans) != 0 || s.buffered != 0 {
		t.Errorf("leftovers: %d %d %d, %d bytes", len(s.waiting), len(s.byStream), len(s.orphans), s.buffered)
	}
	if _, err := s.add(header{typ: 'Q', id: rid}, nil, t0); !errors.Is(err, errFrameType) {
		t.Errorf("unknown frame type: %v", err)
	}
}

// A header payload that never ends is refused at its own bound (64 KiB),
// not buffered up to the message bound.
func TestHeaderPayloadBounded(t *testing.T) {
	s := newAssembler()
	id := uuid.NewString()
	chunk := bytes.Repeat([]byte(" "), maxPayload)
	var err error
	n := 0
	for ; err == nil && n < 1000; n++ {
		_, err = s.add(header{typ: typeRequest, id: id}, chunk, t0)
	}
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("after %d frames: %v", n, err)
	}
	if held := n * maxPayload; held > maxHeaderPayload+maxPayload {
		t.Errorf("refused only after %d bytes", held)
	}
}

// Messages whose frames stop coming are dropped after the TTL with their
// bytes; fresh ones stay.
func TestExpire(t *testing.T) {
	s := newAssembler()
	old, fresh, orphan := uuid.NewString(), uuid.NewString(), uuid.NewString()
	stream := uuid.NewString()
	head := `{"verb":"POST","path":"/x","streams":[{"id":"` + stream + `"}]}`
	if _, err := s.add(header{typ: typeRequest, id: old, end: true}, []byte(head), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.add(header{typ: typeStream, id: stream}, []byte("partial"), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.add(header{typ: typeStream, id: orphan}, []byte("lost"), t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.add(header{typ: typeRequest, id: fresh}, []byte(`{"verb"`), t0.Add(assemblyTTL)); err != nil {
		t.Fatal(err)
	}
	if n := s.expire(t0.Add(time.Second)); n != 2 {
		t.Fatalf("expired %d, want 2", n)
	}
	if s.waiting[fresh] == nil || len(s.waiting) != 1 || len(s.orphans) != 0 || len(s.byStream) != 0 {
		t.Errorf("left: %d waiting, %d orphans, %d streams", len(s.waiting), len(s.orphans), len(s.byStream))
	}
	if s.buffered != len(`{"verb"`) {
		t.Errorf("buffered %d bytes", s.buffered)
	}
}

// TooMany: streams without a request, and requests that never end, are
// bounded in number.
func TestTooMany(t *testing.T) {
	s := newAssembler()
	var err error
	for i := 0; err == nil && i <= maxOrphans; i++ {
		_, err = s.add(header{typ: typeStream, id: uuid.NewString()}, []byte("x"), t0)
	}
	if !errors.Is(err, errTooMany) || len(s.orphans) != maxOrphans {
		t.Errorf("orphans: %v, %d held", err, len(s.orphans))
	}
	s = newAssembler()
	err = nil
	for i := 0; err == nil && i <= maxWaiting; i++ {
		_, err = s.add(header{typ: typeRequest, id: uuid.NewString()}, []byte("{"), t0)
	}
	if !errors.Is(err, errTooMany) || len(s.waiting) != maxWaiting {
		t.Errorf("waiting: %v, %d held", err, len(s.waiting))
	}
}

// held recounts what s buffers, to check its running count.
func held(s *assembler) int {
	n := 0
	for _, a := range s.waiting {
		n += a.head.Len()
		for _, b := range a.bodies {
			n += b.Len()
		}
	}
	for _, o := range s.orphans {
		n += o.buf.Len()
	}
	return n
}

// FuzzStreamFrames feeds arbitrary frame sequences to the assembler. After
// every frame its byte count matches what it holds and stays within the
// limits; a message it completes carries no more than the bound; and
// expiring everything leaves nothing.
func FuzzStreamFrames(f *testing.F) {
	id := "0a1b2c3d-0000-4000-8000-000000000001"
	sid := "0a1b2c3d-0000-4000-8000-000000000002"
	head := `{"verb":"POST","path":"/x","streams":[{"id":"` + sid + `"}]}`
	f.Add([]byte(header{typ: typeStream, id: sid, length: 3}.String() + "abc" +
		header{typ: typeRequest, id: id, length: len(head), end: true}.String() + head +
		header{typ: typeStream, id: sid, length: 2, end: true}.String() + "de"))
	f.Add([]byte(header{typ: typeResponse, id: id, length: 18, end: true}.String() + `{"statusCode":200}`))
	f.Add([]byte(header{typ: typeCancel, id: sid}.String() + header{typ: typeCancelAll, id: id}.String()))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newAssembler()
		for len(data) >= headerLen {
			h, err := parseHeader(data[:headerLen])
			data = data[headerLen:]
			if err != nil || h.length > maxPayload {
				continue
			}
			n := min(h.length, len(data))
			m, err := s.add(h, data[:n], t0)
			data = data[n:]
			if got := held(s); got != s.buffered {
				t.Fatalf("counts %d bytes, holds %d", s.buffered, got)
			}
			if s.buffered > maxBuffered || len(s.waiting) > maxWaiting || len(s.orphans) > maxOrphans {
				t.Fatalf("over a limit: %d bytes, %d waiting, %d orphans", s.buffered, len(s.waiting), len(s.orphans))
			}
			if m != nil && len(m.body) > maxMessage {
				t.Fatalf("message of %d bytes", len(m.body))
			}
			if err != nil {
				break // the connection closes
			}
		}
		s.expire(t0.Add(time.Hour))
		if s.buffered != 0 || len(s.waiting)+len(s.byStream)+len(s.orphans) != 0 {
			t.Fatalf("after expiring all: %d bytes, %d/%d/%d", s.buffered, len(s.waiting), len(s.byStream), len(s.orphans))
		}
	})
}

// String is the header as sent, for building fuzz seeds.
func (h header) String() string { return string(h.marshal()) }
