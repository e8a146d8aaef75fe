package media

import (
	"crypto/rand"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/botline/botline/recorder"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"
)

// BenchmarkMediaPacket measures the per-packet media path of one call: RTP
// parse, G.711 decode into the jitter buffer, the 20 ms tick (jitter read,
// mix, WAV write through the recorder) and the G.711 packet sent back. One
// op is one received and one sent 20 ms packet. The SRTP case adds the
// caller's packet decrypted and authenticated and ours encrypted
// (AES_CM_128_HMAC_SHA1_80, SDES).
func BenchmarkMediaPacket(b *testing.B) {
	b.Run("RTP", func(b *testing.B) { benchmarkMedia(b, false) })
	b.Run("SRTP", func(b *testing.B) { benchmarkMedia(b, true) })
}

func benchmarkMedia(b *testing.B, secure bool) {
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sinkConn, _ := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	defer sinkConn.Close()
	go func() { // drain what the call sends
		buf := make([]byte, 1500)
		for {
			if _, err := sinkConn.Read(buf); err != nil {
				return
			}
		}
	}()
	rec := recorder.New(recorder.Config{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if _, err := rec.Do(recorder.Start); err != nil {
		b.Fatal(err)
	}
	defer rec.Close(recorder.SessionEndCallEnded)
	remote := sinkConn.LocalAddr().(*net.UDPAddr).AddrPort()
	var keys *SRTP
	var callerCtx *srtp.Context // encrypts what the caller sends
	var callerHdr rtp.Header
	if secure {
		const suite = "AES_CM_128_HMAC_SHA1_80"
		remoteKey, localKey := make([]byte, 30), make([]byte, 30)
		rand.Read(remoteKey)
		rand.Read(localKey)
		if keys, err = NewSRTP(suite, remoteKey, localKey); err != nil {
			b.Fatal(err)
		}
		callerCtx, _ = srtpContext(suite, remoteKey)
	}
	e := &Engine{}
	m := e.NewStream(StreamConfig{Socket: Socket{conn: conn, shard: -1}, Params: Params{Remote: remote, Codec: PCMU}, SSRC: 42,
		Log: slog.New(slog.DiscardHandler), SRTP: keys})
	m.sink = rec // Start would also join a clock; the loop below ticks by hand

	in := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 7, Timestamp: 1000, SequenceNumber: 1}, Payload: make([]byte, FrameSize)}
	for i := range in.Payload {
		in.Payload[i] = byte(i)
	}
	// The caller's packets are made ahead in batches, outside the timed
	// work (for SRTP its encryption is the caller's cost, not ours); the
	// gateway decrypts in place, so each is copied to raw first.
	const batch = 4096
	pkts := make([][]byte, 0, batch)
	next := func() {
		pkts = pkts[:0]
		for range batch {
			p, _ := in.Marshal()
			if secure {
				p, _ = callerCtx.EncryptRTP(nil, p, &callerHdr)
			}
			pkts = append(pkts, p)
			in.SequenceNumber++
			in.Timestamp += FrameSize
		}
	}
	next()
	raw := make([]byte, 1500)
	from := remote // the caller sends from the address its SDP gave
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == batch {
			b.StopTimer()
			next()
			i = 0
			b.StartTimer()
		}
		n := copy(raw, pkts[i])
		i++
		m.mu.Lock()
		m.receive(raw[:n], from)
		m.mu.Unlock()
		m.tick(time.Now(), true)
	}
}
