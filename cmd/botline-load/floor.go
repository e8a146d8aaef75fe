package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// runFloor is the measuring floor: the least a recorder must do. It opens n
// UDP sockets on consecutive even ports from base, and on one goroutine per
// socket receives RTP and appends the payload to a file through a buffer,
// until ctx ends.
func runFloor(ctx context.Context, ip string, base, n int, dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	var wg sync.WaitGroup
	var conns []*net.UDPConn
	for i := range n {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(base+2*i))))
		if err != nil {
			return fmt.Errorf("floor listen: %w", err)
		}
		conns = append(conns, c)
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("stream-%05d.raw", i)))
		if err != nil {
			return err
		}
		wg.Go(func() {
			defer f.Close()
			w := bufio.NewWriterSize(f, 8192)
			defer w.Flush()
			buf := make([]byte, 1500)
			var h rtp.Header
			for {
				k, err := c.Read(buf)
				if err != nil {
					return
				}
				off, err := h.Unmarshal(buf[:k])
				if err != nil {
					continue
				}
				w.Write(buf[off:k])
			}
		})
	}
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	return nil
}

// runRTPOnly streams n calls' audio without SIP to consecutive even ports
// from base (the floor's), for hold, paced like the SIP calls.
func runRTPOnly(ctx context.Context, cfg config, ip string, base int) (*report, error) {
	start := time.Now()
	streams, err := rtpStreams(cfg.localIP, ip, base, cfg.calls)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	audio := toneAudio()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SSRC: 1}, Payload: make([]byte, 160)}
	buf := make([]byte, 1500)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	end := time.After(cfg.hold)
	var sent uint64
	pos := 0
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-end:
			return &report{Target: fmt.Sprintf("%s:%d (rtp only)", ip, base), Attempted: len(streams), Answered: len(streams),
				RTPSent: sent, ElapsedS: time.Since(start).Seconds()}, nil
		case <-tick.C:
		}
		for i := range 160 {
			pkt.Payload[i] = encodeUlaw(audio[pos+i])
		}
		pos = (pos + 160) % (len(audio) - 160)
		pkt.SequenceNumber++
		pkt.Timestamp += 160
		n, _ := pkt.MarshalTo(buf)
		for _, s := range streams {
			if _, err := s.Write(buf[:n]); err == nil {
				sent++
			}
		}
	}
}

func rtpStreams(localIP, ip string, base, n int) ([]*net.UDPConn, error) {
	var out []*net.UDPConn
	for i := range n {
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(localIP), 0)),
			net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), uint16(base+2*i))))
		if err != nil {
			for _, c := range out {
				c.Close()
			}
			return nil, fmt.Errorf("rtp stream: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}
