package pcap

import (
	"bytes"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 20_000_000)
	src, dst := netip.MustParseAddrPort("10.0.0.1:4000"), netip.MustParseAddrPort("10.0.0.2:5000")
	for i := range 3 {
		if err := w.Write(Packet{Time: at.Add(time.Duration(i) * 20 * time.Millisecond), Src: src, Dst: dst, Payload: []byte{byte(i), 1, 2}}); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := ReadAll(&buf)
	if err != nil || len(ps) != 3 {
		t.Fatalf("%d packets, %v", len(ps), err)
	}
	if ps[2].Src != src || ps[2].Dst != dst || !bytes.Equal(ps[2].Payload, []byte{2, 1, 2}) || !ps[2].Time.Equal(at.Add(40*time.Millisecond)) {
		t.Errorf("packet %+v", ps[2])
	}
}

// The captures Debian's sip-tester ships read as RTP.
func TestReadSIPpCapture(t *testing.T) {
	f, err := os.Open("/usr/share/sip-tester/dtmf_2833_1.pcap")
	if err != nil {
		t.Fatal("sip-tester not installed (make test installs it): ", err)
	}
	defer f.Close()
	ps, err := ReadAll(f)
	if err != nil || len(ps) != 10 {
		t.Fatalf("%d packets, %v", len(ps), err)
	}
	if pt := ps[0].Payload[1] & 0x7f; pt != 101 || ps[0].Payload[12] != 1 {
		t.Errorf("payload type %d event %d, want 101 and key 1", pt, ps[0].Payload[12])
	}
}
