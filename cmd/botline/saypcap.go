package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/internal/pcap"
	"github.com/botline/botline/media"
	"github.com/botline/botline/speech"
	"github.com/pion/rtp"
)

// sayPCAP is `botline say-pcap`: it speaks a sentence with a TTS engine
// into a capture of G.711 RTP that SIPp's play_pcap_audio replays, so a
// test harness can call with known words.
func sayPCAP(args []string) int {
	fs := flag.NewFlagSet("botline say-pcap", flag.ContinueOnError)
	out := fs.String("o", "speech.pcap", "capture file to write")
	engine := fs.String("tts", "flite", "TTS engine: flite or espeak-ng")
	voice := fs.String("voice", "", "engine voice (flite: slt, rms, awb, kal; espeak-ng: en-us, ...)")
	codecName := fs.String("codec", "PCMA", "PCMA (payload type 8) or PCMU (0)")
	lead := fs.Duration("lead", 500*time.Millisecond, "silence before the speech")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: botline say-pcap [flags] TEXT-OR-SSML\n\nWrites 20 ms G.711 RTP packets of the spoken text, for SIPp's play_pcap_audio.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	text := strings.Join(fs.Args(), " ")
	if strings.TrimSpace(text) == "" {
		fs.Usage()
		return 2
	}
	codec := media.PCMA
	switch strings.ToUpper(*codecName) {
	case "PCMA":
	case "PCMU":
		codec = media.PCMU
	default:
		fmt.Fprintf(os.Stderr, "botline say-pcap: --codec %q: want PCMA or PCMU\n", *codecName)
		return 2
	}
	e, err := speech.NewEngine(*engine)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline say-pcap:", err)
		return 2
	}
	switch t := e.(type) {
	case speech.Flite:
		t.Voice = *voice
		e = t
	case speech.Espeak:
		t.Voice = *voice
		e = t
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pcm, err := speech.Speak(ctx, e, text)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline say-pcap:", err)
		return 1
	}
	pcm = append(make([]int16, int(lead.Seconds()*speech.CallRate)), pcm...)
	if err := writeRTPCapture(*out, pcm, codec); err != nil {
		fmt.Fprintln(os.Stderr, "botline say-pcap:", err)
		return 1
	}
	fmt.Printf("%s: %.2f s of %s RTP\n", *out, float64(len(pcm))/speech.CallRate, codec.Name)
	return 0
}

func writeRTPCapture(path string, pcm []int16, codec media.Codec) error {
	return writeRTPStreams(path, [][]int16{pcm}, codec)
}

// writeRTPStreams writes one RTP stream per pcm, interleaved in time:
// stream k to port 6002+2k, so SIPp, which keeps a capture's port offsets,
// sends stream k to the answer's port plus 2k.
func writeRTPStreams(path string, streams [][]int16, codec media.Codec) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(f)
	w, err := pcap.NewWriter(bw)
	if err != nil {
		f.Close()
		return err
	}
	start := time.Unix(1700000000, 0)
	longest := 0
	for _, pcm := range streams {
		longest = max(longest, len(pcm))
	}
	buf := make([]byte, media.FrameSize)
	frame := make([]int16, media.FrameSize)
	for i := 0; i*media.FrameSize < longest; i++ {
		for k, pcm := range streams {
			if i*media.FrameSize >= len(pcm) {
				continue
			}
			clear(frame)
			copy(frame, pcm[i*media.FrameSize:])
			codec.Encode(buf, frame)
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: codec.PayloadType, SSRC: 0x0b0711ce + uint32(k),
				Marker: i == 0, SequenceNumber: uint16(i + 1), Timestamp: uint32(i * media.FrameSize)}, Payload: buf}
			b, err := pkt.Marshal()
			if err != nil {
				f.Close()
				return err
			}
			src := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(6000+2*k))
			dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(6002+2*k))
			if err := w.Write(pcap.Packet{Time: start.Add(time.Duration(i) * 20 * time.Millisecond), Src: src, Dst: dst, Payload: b}); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// tonePCAP is `botline tone-pcap`: a steady tone per stream, for SIPp; with
// two frequencies, the two directions of a SIPREC fork.
func tonePCAP(args []string) int {
	fs := flag.NewFlagSet("botline tone-pcap", flag.ContinueOnError)
	out := fs.String("o", "tone.pcap", "capture file to write")
	hz := fs.String("hz", "440", "frequency of each stream, comma-separated (440,1000: two streams two ports apart)")
	d := fs.Duration("d", 8*time.Second, "length")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var streams [][]int16
	for _, f := range strings.Split(*hz, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || v >= 4000 {
			fmt.Fprintf(os.Stderr, "botline tone-pcap: -hz %q: want frequencies below 4000 Hz\n", *hz)
			return 2
		}
		streams = append(streams, audio.Tone(v, *d, 8000, 8000))
	}
	if err := writeRTPStreams(*out, streams, media.PCMA); err != nil {
		fmt.Fprintln(os.Stderr, "botline tone-pcap:", err)
		return 1
	}
	fmt.Printf("%s: %d PCMA RTP streams of %v\n", *out, len(streams), *d)
	return 0
}
