package sip

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/botline/botline/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// FuzzParseOffer: any INVITE body gets an offer or an error, never a panic.
func FuzzParseOffer(f *testing.F) {
	f.Add([]byte(sippOffer))
	f.Add([]byte("v=0\r\no=- 1 1 IN IP6 ::1\r\ns=-\r\nc=IN IP6 ::1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n"))
	f.Add([]byte("v=0\r\nm=audio 99999 RTP/AVP 300\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := ParseOffer(body)
		if err == nil && (o.Codec.Name != "PCMU" && o.Codec.Name != "PCMA") {
			t.Fatalf("accepted offer without G.711: %+v", o)
		}
	})
}

// FuzzRequest feeds whole SIP messages to the handlers a gateway with
// digest authentication exposes before a call exists (any method, out of
// any dialog): nothing panics, nothing gets more than one final answer,
// and no INVITE gets a 2xx or reaches the call table without credentials.
func FuzzRequest(f *testing.F) {
	for _, seed := range []string{
		"INVITE sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:svc@127.0.0.1>\r\nCall-ID: f1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 0\r\n\r\n",
		"INVITE sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK2\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:svc@127.0.0.1>\r\nCall-ID: f2\r\nCSeq: 2 INVITE\r\nAuthorization: Digest username=\"alice\", realm=\"botline\", nonce=\"AAAA\", uri=\"sip:svc@127.0.0.1\", response=\"00\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"x\"\r\nContent-Length: 0\r\n\r\n",
		"BYE sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK3\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:svc@127.0.0.1>;tag=2\r\nCall-ID: f3\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n",
		"INFO sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK4\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:svc@127.0.0.1>;tag=2\r\nCall-ID: f4\r\nCSeq: 4 INFO\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\nSignal=5\r\n",
		"BYE sip:svc@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK6\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:svc@127.0.0.1>;tag=2\r\nCSeq: 6 BYE\r\nContent-Length: 0\r\n\r\n", // no Call-ID
		"REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK5\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: f5\r\nCSeq: 5 REGISTER\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	e, err := media.NewEngine(media.EngineConfig{IP: netip.MustParseAddr("127.0.0.1"), Ports: media.PortRange{Min: 40000, Max: 40010}})
	if err != nil {
		f.Fatal(err)
	}
	defer e.Close()
	s, err := NewServer(Config{Listen: "127.0.0.1:5060", Media: e,
		Auth: NewDigestAuth("botline", map[string]string{"alice": "s3cret"}), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	handlers := map[sip.RequestMethod]sipgo.RequestHandler{sip.INVITE: s.onInvite, sip.ACK: s.onAck, sip.BYE: s.onBye,
		sip.OPTIONS: s.onOptions, sip.INFO: s.onInfo, sip.UPDATE: s.onUpdate, sip.NOTIFY: s.onNotify}
	f.Fuzz(func(t *testing.T, b []byte) {
		msg, err := sip.ParseMessage(b)
		if err != nil {
			return // the transport drops what does not parse
		}
		req, ok := msg.(*sip.Request)
		if !ok || req.Method == sip.ACK {
			return
		}
		req.SetSource("127.0.0.1:5070")
		if _, err := sip.ServerTxKeyMake(req); err != nil {
			return // the transaction layer drops it
		}
		tx := &recordTx{done: make(chan struct{})}
		h, ok := handlers[req.Method]
		if !ok {
			h = s.onNoRoute
		}
		s.admit(h)(req, tx)
		finals := 0
		for _, res := range tx.responses {
			if res.StatusCode >= 200 {
				finals++
			}
			if req.Method == sip.INVITE && res.IsSuccess() {
				t.Fatalf("an INVITE without valid credentials got %d", res.StatusCode)
			}
		}
		if finals > 1 {
			t.Fatalf("%s got %d final answers", req.Method, finals)
		}
		if s.active.Load() != 0 || len(s.calls) != 0 {
			t.Fatalf("a request without credentials left state: %d active, %d calls", s.active.Load(), len(s.calls))
		}
	})
}

// recordTx is a server transaction that keeps what is answered.
type recordTx struct {
	responses []*sip.Response
	done      chan struct{}
}

func (r *recordTx) Respond(res *sip.Response) error {
	r.responses = append(r.responses, res)
	return nil
}
func (r *recordTx) Acks() <-chan *sip.Request          { return nil }
func (r *recordTx) OnCancel(sip.FnTxCancel) bool       { return false }
func (r *recordTx) Terminate()                         {}
func (r *recordTx) OnTerminate(sip.FnTxTerminate) bool { return false }
func (r *recordTx) Done() <-chan struct{}              { return r.done }
func (r *recordTx) Err() error                         { return nil }
