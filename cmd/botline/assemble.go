package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/botline/botline/channel"
	"github.com/botline/botline/channel/streaming"
	"github.com/botline/botline/internal/botauth"
	"github.com/botline/botline/media"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
)

// This file holds the steps run assembles the gateway with, in its order.

// cleanups are what run undoes on its way out, last added first.
type cleanups []func()

func (c *cleanups) add(f func()) { *c = append(*c, f) }

func (c cleanups) run() {
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
}

// signalling checks the SIP and media flags: the SIP server's config
// (without its handler and media) and the media engine's.
func (o *options) signalling(log *slog.Logger) (sip.Config, media.EngineConfig, error) {
	mediaIP, err := netip.ParseAddr(o.mediaIP)
	if err != nil || mediaIP.IsUnspecified() {
		return sip.Config{}, media.EngineConfig{}, fmt.Errorf("--media-ip %q: need a concrete IP address (set --media-ip when --sip-listen is a wildcard)", o.mediaIP)
	}
	if o.outboundProxy != "" {
		if _, port, err := net.SplitHostPort(o.outboundProxy); err != nil || port == "" {
			return sip.Config{}, media.EngineConfig{}, fmt.Errorf("--outbound-proxy %q: want host:port", o.outboundProxy)
		}
	}
	ports, err := media.ParsePortRange(o.rtpPorts)
	if err != nil {
		return sip.Config{}, media.EngineConfig{}, err
	}
	cfg := sip.Config{
		Listen: o.sipListen, RingTime: o.ringTime, RTPTimeout: o.rtpTimeout, Logger: log, OutboundProxy: o.outboundProxy,
	}
	if err := o.sip.apply(o.sipListen, &cfg); err != nil {
		return sip.Config{}, media.EngineConfig{}, err
	}
	return cfg, media.EngineConfig{IP: mediaIP, Ports: *ports, Mux: o.rtpMux, NoOffload: !o.rtpOffload}, nil
}

// recordingsDir is --recordings-dir, absolute and made if missing.
func recordingsDir(path string) (string, error) {
	dir, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("--recordings-dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("--recordings-dir: %w", err)
	}
	return dir, nil
}

// gatewayConfig checks the recording, storage, cluster, voice and
// unavailable-bot flags into the gateway's config (without its bot and
// events), and opens the store: an S3 store also gives its uploader.
func (o *options) gatewayConfig(ctx context.Context, dir string, log *slog.Logger) (channel.Config, *s3store.Uploader, *recordingsapi.Peers, error) {
	var cfg channel.Config
	layout, err := recorder.ParseLayout(o.layout)
	if err != nil {
		return cfg, nil, nil, fmt.Errorf("--recording-channel-type: %w", err)
	}
	if o.sampleRate != 8000 && o.sampleRate != 16000 {
		return cfg, nil, nil, fmt.Errorf("--recording-sample-rate %d: want 8000 or 16000", o.sampleRate)
	}
	cfg = channel.Config{PublicURL: o.publicURL, RecordingsDir: dir, ResourceID: "botline@" + o.nodeID, NodeTag: recorder.NodeTag(o.nodeID),
		Logger: log, RecordingLayout: layout, RecordingSampleRate: o.sampleRate, PolicyRequired: o.policyRequired, SIPRECBot: o.siprecBot}
	store, uploads, err := o.store.open(ctx, dir, log)
	if err != nil {
		return cfg, nil, nil, err
	}
	cfg.Store = store
	cluster, err := recordingsapi.ParsePeers(o.peers, o.nodeID, uploads == nil, log)
	if err != nil {
		return cfg, nil, nil, err
	}
	if err := o.recordingConfig(dir, &cfg); err != nil {
		return cfg, nil, nil, err
	}
	if err := voiceConfig(o, &cfg); err != nil {
		return cfg, nil, nil, err
	}
	if err := o.unavailable.apply(&cfg); err != nil {
		return cfg, nil, nil, err
	}
	return cfg, uploads, cluster, nil
}

// recordingConfig checks what recordings are made with: pause behavior,
// encryption recipients, the evidence key, the policy, the notice and
// the chunk bound.
func (o *options) recordingConfig(dir string, cfg *channel.Config) error {
	pb, err := recorder.ParsePauseBehavior(o.pauseBehavior)
	if err != nil {
		return fmt.Errorf("--recording-pause-behavior: %w", err)
	}
	cfg.RecordingPauseBehavior = pb
	if cfg.Recipients, err = recorder.ParseRecipients(o.recipients); err != nil {
		return fmt.Errorf("--recording-recipient: %w", err)
	}
	cfg.RecipientKeys = o.recipients
	if o.evidenceKey != "none" {
		path := o.evidenceKey
		if path == "" {
			path = filepath.Join(dir, ".auth", "evidence-key.pem")
		}
		if cfg.EvidenceKey, err = recorder.LoadOrCreateEvidenceKey(path); err != nil {
			return err
		}
	}
	if o.policyFile != "" {
		if cfg.Policy, err = channel.LoadPolicy(o.policyFile); err != nil {
			return err
		}
	}
	if cfg.Notice, err = loadNotice(o.notice); err != nil {
		return err
	}
	cfg.ChunkMax, cfg.ChunkMaxBytes, err = parseChunkMax(o.chunkMax)
	return err
}

// botAuthority is the bot's token authority (nil without --bot-app-id)
// and whether the HTTP listener serves TLS; an external bot's Connector
// API is never served unauthenticated off loopback.
func (o *options) botAuthority(dir string) (*botauth.Authority, bool, error) {
	exposed := !loopback(o.httpListen)
	ba, err := o.auth.authority(o.publicURL, dir, exposed)
	if err != nil {
		return nil, false, err
	}
	if ba == nil && o.botEndpoint != "" && exposed {
		return nil, false, fmt.Errorf("--bot-app-id is required when --http-listen (%s) is not a loopback address and the bot is external: anyone who learns a conversation id could act on its call", o.httpListen)
	}
	if exposed && o.apiToken != "" && len(o.apiToken) < minSecret {
		return nil, false, fmt.Errorf("--api-token has %d characters: at least %d when --http-listen (%s) is not a loopback address (openssl rand -hex 16 makes one)", len(o.apiToken), minSecret, o.httpListen)
	}
	useTLS, err := o.auth.tls()
	return ba, useTLS, err
}

// afterCall builds the after-call pipeline when recordings go anywhere
// after the call (a bucket, webhooks): the gateway hands it every
// file-ready event. It returns nil when they go nowhere.
func (o *options) afterCall(dir string, cfg *channel.Config, uploads *s3store.Uploader, log *slog.Logger) (*recordingsapi.AfterCall, error) {
	if len(o.eventsURLs) == 0 && uploads == nil {
		return nil, nil
	}
	a := &recordingsapi.AfterCall{SpoolDir: filepath.Join(dir, ".events"), Upload: uploads, Logger: log,
		Webhooks: recordingsapi.Webhooks{URLs: o.eventsURLs, Handshake: o.eventsHandshake}}
	var err error
	if a.Webhooks.Secret, err = webhookSecret(o.eventsSecret); err != nil {
		return nil, err
	}
	if err := a.Init(); err != nil {
		return nil, err
	}
	cfg.Events = a
	return a, nil
}

// connectStreaming connects a streaming-transport bot; it may start after
// us: deliveries wait for the socket.
func connectStreaming(ctx context.Context, bot channel.BotTransport, atExit *cleanups, log *slog.Logger) {
	sc, ok := bot.(*streaming.Client)
	if !ok {
		return
	}
	atExit.add(func() { sc.Close() })
	go func() {
		if err := sc.Connect(ctx); err != nil {
			log.Warn("bot not reachable over streaming yet", "err", err)
		}
	}()
}

// announceRepaired repairs the recordings a crash left unfinished and
// announces each by a file-ready event.
func announceRepaired(dir string, cfg channel.Config, publicURL string, log *slog.Logger) {
	repaired, err := recorder.Repair(dir)
	if err != nil {
		log.Error("repairing unfinished recordings", "err", err)
	}
	for _, md := range repaired {
		log.Warn("recording left unfinished by a crash was repaired", "recordingId", md.RecordingID, "callId", md.CallID,
			"duration", time.Duration(md.ChunkDuration)*time.Millisecond, "endReason", md.EndReason)
		if cfg.Events != nil {
			if err := cfg.Events.Publish(recorder.NewFileReadyEvent([]recorder.Metadata{md}, recorder.SessionEndServiceRestarted, cfg.ResourceID, publicURL)); err != nil {
				log.Error("file-ready event not queued", "recordingId", md.RecordingID, "err", err)
			}
		}
	}
}

// startStorage starts the after-call pipeline (uploads, webhooks) and
// the retention sweeper.
func (o *options) startStorage(ctx context.Context, store recorder.Store, after *recordingsapi.AfterCall, atExit *cleanups, log *slog.Logger) error {
	if after != nil {
		if err := after.Start(ctx); err != nil {
			return err
		}
		atExit.add(after.Wait)
	}
	if o.retention > 0 {
		go recorder.Retain(ctx, store, o.retention, min(time.Minute, max(o.retention/4, 100*time.Millisecond)), log)
	}
	return nil
}

// httpListener listens on --http-listen, with TLS when asked; the
// recordings API is never open off loopback without --api-token.
func (o *options) httpListener(useTLS bool) (net.Listener, error) {
	if o.apiToken == "" && !loopback(o.httpListen) {
		return nil, fmt.Errorf("--api-token is required when --http-listen (%s) is not a loopback address: the recordings API would be open to the network", o.httpListen)
	}
	ln, err := net.Listen("tcp", o.httpListen)
	if err != nil {
		return nil, fmt.Errorf("--http-listen: %w", err)
	}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(o.auth.tlsCert, o.auth.tlsKey)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("--http-tls-cert/--http-tls-key: %w", err)
		}
		ln = tls.NewListener(ln, serverTLS(cert))
	}
	return ln, nil
}

// drainer starts the drain on SIGTERM's behalf (drainOnRequest) and
// returns what asks for it (/admin/drain).
func drainer(ctx context.Context, srv *sip.Server, after *recordingsapi.AfterCall, timeout time.Duration, stop func(), log *slog.Logger) func() {
	req := make(chan struct{}, 1)
	go drainOnRequest(ctx, srv, after, req, timeout, stop, log)
	return func() {
		select {
		case req <- struct{}{}:
		default:
		}
	}
}

// serveHTTP serves h on ln until shutdown.
func serveHTTP(ln net.Listener, h http.Handler, log *slog.Logger) *http.Server {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	return srv
}

// shutdown waits for the conversations to end and closes the HTTP server,
// 5 s at most.
func shutdown(gw *channel.Gateway, httpSrv *http.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Wait(ctx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	_ = httpSrv.Shutdown(ctx)
	log.Info("botline stopped")
}
