package main

// This file reads the command line (flags, and BOTLINE_* variables) into
// options, and turns options into the gateway's parts.

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/botline/botline/bots/ivr"
	"github.com/botline/botline/bots/recordbot"
	"github.com/botline/botline/channel"
	"github.com/botline/botline/channel/streaming"
	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/internal/botauth"
	"github.com/botline/botline/speech"
)

// options are the parsed flags.
type options struct {
	sipListen, httpListen, publicURL, botEndpoint string
	recordingsDir, mediaIP, rtpPorts, logFormat   string
	ringTime, botCallTime, rtpTimeout             time.Duration
	pprof, policyRequired, siprecBot, rtpMux      bool
	rtpOffload                                    bool
	apiToken                                      string
	retention, drainTimeout                       time.Duration
	layout, pauseBehavior, evidenceKey            string
	policyFile, notice, chunkMax                  string
	sampleRate                                    int
	eventsURLs                                    urlList
	recipients                                    urlList
	peers                                         urlList
	eventsSecret                                  string
	eventsHandshake                               bool
	tts, stt, botTransport, outboundProxy         string
	defaultBot, ivrAgent, nodeID                  string
	silenceTimeout, utteranceEnd                  time.Duration
	sip                                           sipOptions
	unavailable                                   unavailableOptions
	auth                                          authOptions
	store                                         storeOptions
}

// urlList is a repeatable flag; a comma-separated value adds several.
type urlList []string

func (l *urlList) String() string { return strings.Join(*l, ",") }

// Set adds one or more comma-separated URLs.
func (l *urlList) Set(v string) error {
	for _, u := range strings.Split(v, ",") {
		if u = strings.TrimSpace(u); u != "" {
			*l = append(*l, u)
		}
	}
	return nil
}

func parseFlags(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("botline", flag.ContinueOnError)
	fs.StringVar(&o.sipListen, "sip-listen", "127.0.0.1:5060", "SIP address, served over UDP and TCP")
	fs.StringVar(&o.httpListen, "http-listen", "127.0.0.1:8080", "HTTP address of the Connector API and /healthz")
	fs.StringVar(&o.publicURL, "public-url", "", "serviceUrl given to bots (default http://<http-listen>)")
	fs.StringVar(&o.botEndpoint, "bot-endpoint", "", "bot messaging endpoint, e.g. http://127.0.0.1:3978/api/messages (empty = embedded default bot)")
	fs.StringVar(&o.recordingsDir, "recordings-dir", "./recordings", "where recordings (WAV + JSON metadata) are written")
	fs.StringVar(&o.mediaIP, "media-ip", "", "address bound for RTP and put in SDP (default the host of --sip-listen)")
	fs.StringVar(&o.rtpPorts, "rtp-ports", "20000-30000", "UDP port range for RTP, MIN-MAX")
	fs.BoolVar(&o.rtpOffload, "rtp-offload", true, "with --rtp-mux on Linux: send a tick's packets to one far address as one UDP GSO message and ask for UDP GRO on receive, so calls sharing a far address (a trunk sending every call from one port) cross the kernel once per 64 packets; false: one packet per message")
	fs.BoolVar(&o.rtpMux, "rtp-mux", false, "carry every call's RTP on one shared port per core (the first even ports of --rtp-ports) instead of a port per call, moving packets in batches (recvmmsg/sendmmsg): fewer syscalls per packet. Callers must send RTP from the address in their SDP (docs/PERFORMANCE.md); IPv4 only")
	fs.DurationVar(&o.ringTime, "ring-time", 0, "time between 180 Ringing and 200 OK")
	fs.DurationVar(&o.rtpTimeout, "rtp-timeout", 60*time.Second, "hang up a call whose caller sent no RTP for this long (0 = never)")
	fs.StringVar(&o.defaultBot, "default-bot", "recordbot", "the embedded bot when --bot-endpoint is empty: recordbot (records, hangs up after --default-bot-call-time) or ivr (the sample IVR: menu by keys, speech echo, transfer on 0)")
	fs.StringVar(&o.ivrAgent, "ivr-agent", "+18005550100", "number the embedded IVR bot transfers to on key 0")
	fs.DurationVar(&o.botCallTime, "default-bot-call-time", 30*time.Second, "the embedded default bot hangs up this long after answering (0 = never)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on --http-listen")
	fs.Var(&o.eventsURLs, "events-url", "webhook for file-ready events (Event Grid schema); repeatable, or comma-separated in the environment")
	fs.StringVar(&o.eventsSecret, "events-secret", "", "signs every webhook post (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature = HMAC-SHA256); whsec_<base64> or any string")
	fs.BoolVar(&o.eventsHandshake, "events-handshake", true, "a webhook gets events only after answering Event Grid's subscription validation (SubscriptionValidationEvent -> validationResponse) once")
	fs.StringVar(&o.layout, "recording-channel-type", "mixed", "default layout of recordings: mixed (mono) or unmixed (stereo: caller left, bot right); a start command's value.data.recordingChannelType overrides it")
	fs.Var(&o.recipients, "recording-recipient", "encrypt every recording (audio, metadata, transcript) as it is written to this age public key (age1...); repeatable. The gateway keeps no key that decrypts them: `botline decrypt -identity KEYFILE` does")
	fs.BoolVar(&o.siprecBot, "siprec-bot", false, "deliver SIPREC recording sessions to the bot as conversations too (it cannot stop their recording); without it they involve no bot")
	fs.StringVar(&o.evidenceKey, "evidence-key", "", "Ed25519 key (PEM) signing each recording's manifest of chunk hashes (default <recordings-dir>/.auth/evidence-key.pem, generated at first start; \"none\" = no manifests)")
	fs.StringVar(&o.pauseBehavior, "recording-pause-behavior", "skip", "what a pause leaves in the file: skip (nothing, the Telephony channel's behaviour) or silence (the span as silence, so the file's clock is the call's); a start's or pause's value.data.pauseBehavior overrides it")
	fs.IntVar(&o.sampleRate, "recording-sample-rate", 8000, "sample rate of recordings: 8000 or 16000 (upsampled with an interpolation filter)")
	fs.StringVar(&o.chunkMax, "recording-chunk-max", "1h", "bound of one recording file: a duration (1h, 30m) or a size (500MB, 64KB); past it the recording continues in a new chunk")
	fs.StringVar(&o.policyFile, "record-policy", "", "file of \"caller <number>\" / \"dialed <number>\" lines (trailing * = prefix): matching calls are recorded from answer to hang-up, and bots cannot stop it")
	fs.BoolVar(&o.policyRequired, "record-policy-required", false, "fail closed: hang up a call --record-policy names when its recording cannot start (without it the call goes on unrecorded, and the bot gets a recording.failed event)")
	fs.StringVar(&o.notice, "recording-notice", "tone", "what the caller hears when a recording starts: tone, none, or a WAV file (8 kHz mono 16-bit)")
	fs.StringVar(&o.botTransport, "bot-transport", "http", "how activities reach --bot-endpoint: http (POST per activity, the bot answers on the Connector API) or streaming (one WebSocket opened by the gateway, Bot Framework streaming framing both ways)")
	fs.StringVar(&o.outboundProxy, "outbound-proxy", "", "host:port of the SIP proxy or trunk that transfers are dialed through when the caller refuses REFER (the gateway then bridges the media); empty = REFER only")
	fs.StringVar(&o.tts, "tts", "flite", "engine speaking the bot's messages: flite, espeak-ng, or none")
	fs.StringVar(&o.stt, "stt", "pocketsphinx", "recognizer of the caller's speech: pocketsphinx or none (speech still barges in)")
	fs.DurationVar(&o.silenceTimeout, "silence-timeout", 10*time.Second, "send the bot an event \"silence\" when the caller is quiet this long after a prompt (0 = never)")
	fs.DurationVar(&o.utteranceEnd, "utterance-end", 700*time.Millisecond, "silence that ends a caller's utterance")
	host, _ := os.Hostname()
	fs.StringVar(&o.nodeID, "node-id", host, "this gateway's name among several: in /healthz, and in every recording's resourceId (botline@<node-id>) and file-ready topic")
	fs.Var(&o.peers, "peer", "another node of the cluster, NODE_ID=URL (its --node-id and --public-url); repeatable. Every id a node issues names it, so recording control (and, without --store, downloads) for a recording another node owns is passed to that node, and a start by serverCallId is tried on every node; all nodes must share --api-token")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", 0, "on SIGTERM or POST /admin/drain, how long calls in progress may go on before they are hung up (0 = until they end; a second SIGTERM cuts it short)")
	fs.DurationVar(&o.retention, "retention", 48*time.Hour, "finished recordings older than this are deleted (audio and metadata)")
	o.sip.register(fs)
	o.unavailable.register(fs)
	o.auth.register(fs)
	o.store.register(fs)
	fs.StringVar(&o.apiToken, "api-token", "", "bearer token the recordings API requires; required when --http-listen is not a loopback address")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: botline [flags]\n       botline verify [-key PUBLIC-KEY] DIR   (check recordings: hashes, chunk chain, signed manifests)\n       botline decrypt -identity KEYFILE [-o OUT] FILE.age   (an encrypted recording's WAV, metadata or transcript)\n       botline say-pcap [-o speech.pcap] TEXT   (spoken text as G.711 RTP for SIPp)\n\n"+
			"botline answers SIP calls and turns each into a Bot Framework conversation.\n"+
			"Every flag can also be set by an environment variable BOTLINE_<NAME>, e.g. BOTLINE_SIP_LISTEN.\nFlags win over the environment.\n\n")
		fs.PrintDefaults()
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		env := "BOTLINE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", env, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.publicURL == "" {
		o.publicURL = "http://" + o.httpListen
		if o.auth.tlsCert != "" {
			o.publicURL = "https://" + o.httpListen
		}
	}
	if o.mediaIP == "" {
		host, _, err := net.SplitHostPort(o.sipListen)
		if err != nil {
			return nil, fmt.Errorf("--sip-listen %q: %w", o.sipListen, err)
		}
		o.mediaIP = host
	}
	return o, nil
}

// parseChunkMax reads --recording-chunk-max: a duration or a size in
// B, KB, MB or GB (powers of 1024).
func parseChunkMax(s string) (time.Duration, int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		if num, ok := strings.CutSuffix(strings.ToUpper(s), u.suffix); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
			if err != nil || n <= 0 {
				return 0, 0, fmt.Errorf("--recording-chunk-max %q: want a duration (1h) or a size (500MB)", s)
			}
			return 0, n * u.mult, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, 0, fmt.Errorf("--recording-chunk-max %q: want a duration (1h) or a size (500MB)", s)
	}
	return d, 0, nil
}

// loadNotice returns the recording notice: the default tone, none, or the
// samples of an 8 kHz mono 16-bit WAV file.
func loadNotice(spec string) ([]int16, error) {
	switch spec {
	case "tone":
		return channel.NoticeTone(), nil
	case "none", "":
		return nil, nil
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, fmt.Errorf("--recording-notice: %w", err)
	}
	pcm, rate, channels, err := audio.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("--recording-notice %s: not a readable WAV file", spec)
	}
	if rate != 8000 || channels != 1 {
		return nil, fmt.Errorf("--recording-notice %s: %d Hz, %d channels; want 8000 Hz mono 16-bit", spec, rate, channels)
	}
	return pcm, nil
}

// loopback reports whether addr's host is a loopback address or localhost.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// botTransport returns how activities reach the bot, and says so for the
// start-up log line.
func botTransport(o *options, tokens *botauth.Authority, log *slog.Logger) (channel.BotTransport, string, error) {
	if o.botEndpoint != "" {
		switch o.botTransport {
		case "http":
			b := &channel.HTTPBot{Endpoint: o.botEndpoint}
			if tokens != nil {
				b.Tokens = tokens
			}
			return b, o.botEndpoint, nil
		case "streaming":
			opts := []streaming.Option{streaming.WithLogger(log)}
			if tokens != nil {
				opts = append(opts, streaming.WithToken(func() (string, error) { return tokens.ChannelToken(o.publicURL) }))
			}
			return streaming.NewClient(o.botEndpoint, opts...), o.botEndpoint + " (streaming)", nil
		}
		return nil, "", fmt.Errorf("--bot-transport %q: want http or streaming", o.botTransport)
	}
	switch o.defaultBot {
	case "recordbot":
		return channel.InProcess(&recordbot.Bot{CallTime: o.botCallTime, Log: log}),
			"embedded recordbot (hangs up after " + o.botCallTime.String() + ")", nil
	case "ivr":
		return channel.InProcess(&ivr.Bot{Agent: o.ivrAgent, Log: log}),
			"embedded IVR sample bot (agent " + o.ivrAgent + ")", nil
	}
	return nil, "", fmt.Errorf("--default-bot %q: want recordbot or ivr", o.defaultBot)
}

// voiceConfig sets the gateway's speech engines from the flags; an engine
// whose program is not installed is an error, not a silent call.
func voiceConfig(o *options, cfg *channel.Config) error {
	switch o.tts {
	case "none":
	case "flite", "espeak-ng":
		if _, err := exec.LookPath(o.tts); err != nil {
			return fmt.Errorf("--tts %s: %w (install Debian's %s package, or --tts none)", o.tts, err, o.tts)
		}
		cfg.TTS, _ = speech.NewEngine(o.tts)
	default:
		return fmt.Errorf("--tts %q: want flite, espeak-ng or none", o.tts)
	}
	switch o.stt {
	case "none":
	case "pocketsphinx":
		ps := speech.NewPocketsphinx(0)
		if _, err := exec.LookPath(ps.Path); err != nil {
			return fmt.Errorf("--stt pocketsphinx: %w (install Debian's pocketsphinx and pocketsphinx-en-us packages, or --stt none)", err)
		}
		cfg.STT = ps
	default:
		return fmt.Errorf("--stt %q: want pocketsphinx or none", o.stt)
	}
	cfg.SilenceTimeout = o.silenceTimeout
	cfg.VAD.End = o.utteranceEnd
	return nil
}
