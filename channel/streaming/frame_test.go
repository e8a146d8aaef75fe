package streaming

import (
	"strings"
	"testing"
)

func TestFrameHeader(t *testing.T) {
	id := "0a1b2c3d-0000-4000-8000-000000000001"
	h := header{typ: typeRequest, length: 4096, id: id, end: true}
	b := h.marshal()
	if string(b) != "A.004096."+id+".1\n" || len(b) != headerLen {
		t.Fatalf("header %q", b)
	}
	got, err := parseHeader(b)
	if err != nil || got != h {
		t.Fatalf("parsed %+v, %v", got, err)
	}
	for _, bad := range []string{
		"A.00409x." + id + ".1\n",
		"A.004096." + id + ".2\n",
		"A-004096." + id + ".1\n",
		"A.004096." + id + ".1",
		strings.Repeat("x", headerLen),
	} {
		if _, err := parseHeader([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
