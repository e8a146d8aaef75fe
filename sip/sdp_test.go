package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pion/sdp/v3"
)

const sippOffer = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\na=ptime:30\r\n"

func TestParseOffer(t *testing.T) {
	o, err := ParseOffer([]byte(sippOffer))
	if err != nil {
		t.Fatal(err)
	}
	if o.Codec.Name != "PCMA" || o.Codec.PayloadType != 8 || !o.HasDTMF || o.DTMF != 101 ||
		o.Ptime != 30*time.Millisecond || o.Remote.String() != "127.0.0.1:6000" {
		t.Fatalf("offer %+v", o)
	}
	// Static payload type without rtpmap; the first G.711 offered wins.
	o, err = ParseOffer([]byte("v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 7000 RTP/AVP 18 0 8\r\nc=IN IP4 10.0.0.2\r\n"))
	if err != nil || o.Codec.Name != "PCMU" || o.HasDTMF || o.Remote.String() != "10.0.0.2:7000" {
		t.Fatalf("offer %+v, %v", o, err)
	}
}

func TestParseOfferErrors(t *testing.T) {
	cases := map[string]error{
		"garbage": ErrMalformedSDP,
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 7000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n": ErrNoUsableCodec,
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=video 7000 RTP/AVP 96\r\n":                          ErrNoUsableCodec,
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 not-an-ip\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n":                         ErrMalformedSDP,
		"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\nm=audio 7000 RTP/AVP 0\r\n":                                               ErrMalformedSDP,
	}
	for body, want := range cases {
		if _, err := ParseOffer([]byte(body)); !errors.Is(err, want) {
			t.Errorf("%q: err %v, want %v", body, err, want)
		}
	}
}

// The answer has one m-line per offered m-line, in order (RFC 3264 §6):
// the audio stream taken, the others rejected with port 0.
func TestAnswerMirrorsMLines(t *testing.T) {
	offer := "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n" +
		"m=video 9000 RTP/AVP 96 97\r\na=rtpmap:96 H264/90000\r\n" +
		"m=audio 7000 RTP/AVP 18 0\r\n" +
		"m=audio 7002 RTP/AVP 0\r\n"
	o, err := ParseOffer([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Answer(o, netip.MustParseAddr("192.0.2.1"), 20000, 1)
	if err != nil {
		t.Fatal(err)
	}
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(b); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, md := range sd.MediaDescriptions {
		got = append(got, fmt.Sprintf("%s %d %s", md.MediaName.Media, md.MediaName.Port.Value, strings.Join(md.MediaName.Formats, " ")))
	}
	want := []string{"video 0 96", "audio 20000 0", "audio 0 0"}
	if !slices.Equal(got, want) {
		t.Fatalf("answer m-lines %q, want %q", got, want)
	}
}

// TestSSRCInOfferAndAnswer: the offerer's declared SSRC (RFC 5576, the
// first a=ssrc line; a malformed one is ignored) is what --rtp-mux tells
// calls from one address apart by, and the answer declares ours.
func TestSSRCInOfferAndAnswer(t *testing.T) {
	o, err := ParseOffer([]byte(sippOffer + "a=ssrc:3735928559 cname:trunk\r\na=ssrc:3735928559 msid:x\r\na=ssrc:7 cname:other\r\n"))
	if err != nil || o.SSRC != 3735928559 {
		t.Fatalf("SSRC %d, %v", o.SSRC, err)
	}
	if o, _ := ParseOffer([]byte(sippOffer + "a=ssrc:not-a-number cname:x\r\n")); o.SSRC != 0 {
		t.Fatalf("a malformed a=ssrc gave SSRC %d", o.SSRC)
	}
	o.localSSRC = 42
	ans, err := Answer(o, netip.MustParseAddr("127.0.0.1"), 20000, 1)
	if err != nil || !strings.Contains(string(ans), "a=ssrc:42 cname:botline\r\n") {
		t.Fatalf("answer %q, %v", ans, err)
	}
	o.localSSRC = 0
	if ans, _ := Answer(o, netip.MustParseAddr("127.0.0.1"), 20000, 1); strings.Contains(string(ans), "a=ssrc") {
		t.Fatalf("answer declares an SSRC it was not given: %q", ans)
	}
}
