package channel

import (
	"net/http"
	"strings"
	"testing"
)

func TestFrameHeader(t *testing.T) {
	id := "0a1b2c3d-0000-4000-8000-000000000001"
	h := frameHeader{typ: frameRequest, length: 4096, id: id, end: true}
	b := h.marshal()
	if string(b) != "A.004096."+id+".1\n" || len(b) != frameHeaderLen {
		t.Fatalf("header %q", b)
	}
	got, err := parseFrameHeader(b)
	if err != nil || got != h {
		t.Fatalf("parsed %+v, %v", got, err)
	}
	for _, bad := range []string{
		"A.00409x." + id + ".1\n",
		"A.004096." + id + ".2\n",
		"A-004096." + id + ".1\n",
		"A.004096." + id + ".1",
		strings.Repeat("x", frameHeaderLen),
	} {
		if _, err := parseFrameHeader([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// A request whose body stream arrives in chunks, one before its request
// header, completes once every stream has ended.
func TestAssembly(t *testing.T) {
	c := &streamConn{asm: map[string]*assembly{}, byStream: map[string]*assembly{}, orphans: map[string]*orphan{},
		pending: map[string]chan assembled{}, dead: make(chan struct{})}
	rid, sid := newUUID(), newUUID()
	ch := make(chan assembled, 1)
	c.pending[rid] = ch
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(c.frame(frameHeader{typ: frameStream, id: sid, length: 3}, []byte(`{"a`)))
	must(c.frame(frameHeader{typ: frameResponse, id: rid, end: true}, []byte(`{"statusCode":202,"streams":[{"id":"`+sid+`","type":"application/json","length":8}]}`)))
	select {
	case <-ch:
		t.Fatal("complete before the stream ended")
	default:
	}
	must(c.frame(frameHeader{typ: frameStream, id: sid, end: true}, []byte(`":1}`)))
	res := <-ch
	if res.status != 202 || string(res.body) != `{"a":1}` {
		t.Fatalf("response %d %s", res.status, res.body)
	}
	if len(c.asm)+len(c.byStream)+len(c.orphans) != 0 {
		t.Errorf("leftovers: %d %d %d", len(c.asm), len(c.byStream), len(c.orphans))
	}
	if err := c.frame(frameHeader{typ: 'Q', id: rid}, nil); err == nil {
		t.Error("unknown frame type accepted")
	}
}

// FuzzStreamFrames feeds arbitrary frame sequences to a connection's
// assembler: it may refuse them, never panic or grow without bound.
func FuzzStreamFrames(f *testing.F) {
	id := "0a1b2c3d-0000-4000-8000-000000000001"
	f.Add([]byte("A.000040."+id+".1\n"), []byte(`{"verb":"POST","path":"/x","streams":[]}`))
	f.Add([]byte("S.000003."+id+".0\n"), []byte(`abc`))
	f.Add([]byte("B.000017."+id+".1\n"), []byte(`{"statusCode":200}`))
	f.Fuzz(func(t *testing.T, hdr, payload []byte) {
		c := &streamConn{asm: map[string]*assembly{}, byStream: map[string]*assembly{}, orphans: map[string]*orphan{},
			pending: map[string]chan assembled{}, dead: make(chan struct{}), connector: http.NotFoundHandler()}
		h, err := parseFrameHeader(hdr)
		if err != nil {
			return
		}
		if h.typ == frameRequest {
			return // a complete request is served on a socket this test does not have
		}
		_ = c.frame(h, payload)
		_ = c.frame(frameHeader{typ: frameStream, id: h.id, end: true}, payload)
	})
}
