// Command botline is the telephony channel for Bot Framework bots: it
// answers SIP calls, turns each into a conversation with a bot, and records
// calls on the bot's command.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/botline/botline/channel"
	"github.com/botline/botline/channel/streaming"
	"github.com/botline/botline/internal/auth"
	"github.com/botline/botline/internal/botauth"
	"github.com/botline/botline/internal/httpjson"
	"github.com/botline/botline/media"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "verify" {
		os.Exit(verify(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "tone-pcap" {
		os.Exit(tonePCAP(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "decrypt" {
		os.Exit(decrypt(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "say-pcap" {
		os.Exit(sayPCAP(os.Args[2:]))
	}
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline:", err)
		os.Exit(2)
	}
	var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
	if o.logFormat == "json" {
		h = slog.NewJSONHandler(os.Stderr, nil)
	}
	log := slog.New(h)
	// SIGINT stops at once (calls are hung up, recordings finalized);
	// SIGTERM drains first (run).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		log.Error("botline stopped", "err", err)
		os.Exit(1)
	}
}

// verify is `botline verify [-key PUBLIC-KEY] DIR`: it checks every
// recording's audio against the sha256 in its metadata, the chain of its
// chunks, and its signed manifest (by the given key, a PEM file or the
// base64 the gateway logs at start, when there is one), and exits 1 on
// any problem.
func verify(args []string) int {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	key := fs.String("key", "", "the gateway's evidence public key: a PEM file, or the base64 its log shows at start")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: botline verify [-key PUBLIC-KEY] DIR")
		return 2
	}
	var trusted ed25519.PublicKey
	if *key != "" {
		b, err := os.ReadFile(*key)
		if err != nil {
			b = []byte(*key)
		}
		if trusted, err = recorder.ParsePublicKey(b); err != nil {
			fmt.Fprintln(os.Stderr, "botline verify -key:", err)
			return 2
		}
	}
	checked, problems, err := recorder.VerifyWith(fs.Arg(0), trusted)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline verify:", err)
		return 2
	}
	for _, p := range problems {
		fmt.Printf("FAIL %s: %s\n", p.File, p.Reason)
	}
	fmt.Printf("%d recordings checked, %d problems\n", checked, len(problems))
	if len(problems) > 0 {
		return 1
	}
	return 0
}

func run(ctx context.Context, o *options, log *slog.Logger) error {
	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	mediaIP, err := netip.ParseAddr(o.mediaIP)
	if err != nil || mediaIP.IsUnspecified() {
		return fmt.Errorf("--media-ip %q: need a concrete IP address (set --media-ip when --sip-listen is a wildcard)", o.mediaIP)
	}
	if o.outboundProxy != "" {
		if _, port, err := net.SplitHostPort(o.outboundProxy); err != nil || port == "" {
			return fmt.Errorf("--outbound-proxy %q: want host:port", o.outboundProxy)
		}
	}
	layout, err := recorder.ParseLayout(o.layout)
	if err != nil {
		return fmt.Errorf("--recording-channel-type: %w", err)
	}
	if o.sampleRate != 8000 && o.sampleRate != 16000 {
		return fmt.Errorf("--recording-sample-rate %d: want 8000 or 16000", o.sampleRate)
	}
	ports, err := media.ParsePortRange(o.rtpPorts)
	if err != nil {
		return err
	}
	sipCfg := sip.Config{
		Listen: o.sipListen, RingTime: o.ringTime, RTPTimeout: o.rtpTimeout, Logger: log, OutboundProxy: o.outboundProxy,
	}
	if err := o.sip.apply(o.sipListen, &sipCfg); err != nil {
		return err
	}
	dir, err := filepath.Abs(o.recordingsDir)
	if err != nil {
		return fmt.Errorf("--recordings-dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("--recordings-dir: %w", err)
	}
	gwCfg := channel.Config{PublicURL: o.publicURL, RecordingsDir: dir, ResourceID: "botline@" + o.nodeID, NodeTag: recorder.NodeTag(o.nodeID), Logger: log,
		RecordingLayout: layout, RecordingSampleRate: o.sampleRate}
	store, uploads, err := o.store.open(ctx, dir, log)
	if err != nil {
		return err
	}
	gwCfg.Store = store
	cluster, err := parsePeers(o.peers, o.nodeID, uploads == nil, log)
	if err != nil {
		return err
	}
	gwCfg.PolicyRequired = o.policyRequired
	pb, err := recorder.ParsePauseBehavior(o.pauseBehavior)
	if err != nil {
		return fmt.Errorf("--recording-pause-behavior: %w", err)
	}
	gwCfg.RecordingPauseBehavior = pb
	if gwCfg.Recipients, err = recorder.ParseRecipients(o.recipients); err != nil {
		return fmt.Errorf("--recording-recipient: %w", err)
	}
	gwCfg.RecipientKeys = o.recipients
	gwCfg.SIPRECBot = o.siprecBot
	if o.evidenceKey != "none" {
		path := o.evidenceKey
		if path == "" {
			path = filepath.Join(dir, ".auth", "evidence-key.pem")
		}
		if gwCfg.EvidenceKey, err = recorder.LoadOrCreateEvidenceKey(path); err != nil {
			return err
		}
	}
	if o.policyFile != "" {
		if gwCfg.Policy, err = channel.LoadPolicy(o.policyFile); err != nil {
			return err
		}
	}
	if gwCfg.Notice, err = loadNotice(o.notice); err != nil {
		return err
	}
	if gwCfg.ChunkMax, gwCfg.ChunkMaxBytes, err = parseChunkMax(o.chunkMax); err != nil {
		return err
	}
	if err := voiceConfig(o, &gwCfg); err != nil {
		return err
	}
	if err := o.unavailable.apply(&gwCfg); err != nil {
		return err
	}
	if t := gwCfg.BotUnavailable.Target; t != "" { // the operator's own number
		sipCfg.TransferAllow = append(sipCfg.TransferAllow, t)
	}
	ba, err := o.auth.authority(o.publicURL, dir)
	if err != nil {
		return err
	}
	if ba == nil && o.botEndpoint != "" && !loopback(o.httpListen) {
		return fmt.Errorf("--bot-app-id is required when --http-listen (%s) is not a loopback address and the bot is external: anyone who learns a conversation id could act on its call", o.httpListen)
	}
	useTLS, err := o.auth.tls()
	if err != nil {
		return err
	}
	bot, botDesc, err := botTransport(o, ba, log)
	if err != nil {
		return err
	}
	gwCfg.Bot = bot
	var events *recordingsapi.Notifier
	if len(o.eventsURLs) > 0 {
		n := &recordingsapi.Notifier{URLs: o.eventsURLs, SpoolDir: filepath.Join(dir, ".events"), Logger: log,
			Handshake: o.eventsHandshake}
		if n.Secret, err = webhookSecret(o.eventsSecret); err != nil {
			return err
		}
		if err := n.Start(ctx); err != nil {
			return err
		}
		defer n.Wait()
		gwCfg.Events, events = n, n
	}
	if uploads != nil { // the event follows the recording into the bucket
		if events != nil {
			uploads.Next = events
		}
		gwCfg.Events = uploads
	}
	gw := channel.New(gwCfg)
	if sc, ok := bot.(*streaming.Client); ok {
		defer sc.Close()
		go func() { // the bot may start after us: deliveries wait for the socket
			if err := sc.Connect(ctx); err != nil {
				log.Warn("bot not reachable over streaming yet", "err", err)
			}
		}()
	}
	// Recordings a crash left unfinished: repair, then announce them.
	repaired, err := recorder.Repair(dir)
	if err != nil {
		log.Error("repairing unfinished recordings", "err", err)
	}
	for _, md := range repaired {
		log.Warn("recording left unfinished by a crash was repaired", "recordingId", md.RecordingID, "callId", md.CallID,
			"duration", time.Duration(md.ChunkDuration)*time.Millisecond, "endReason", md.EndReason)
		if gwCfg.Events != nil {
			if err := gwCfg.Events.Publish(recorder.NewFileReadyEvent([]recorder.Metadata{md}, recorder.SessionEndServiceRestarted, gwCfg.ResourceID, o.publicURL)); err != nil {
				log.Error("file-ready event not queued", "recordingId", md.RecordingID, "err", err)
			}
		}
	}
	if uploads != nil {
		if err := uploads.Start(ctx); err != nil {
			return err
		}
		defer uploads.Wait()
	}
	if o.retention > 0 {
		go recorder.Retain(ctx, gwCfg.Store, o.retention, min(time.Minute, max(o.retention/4, 100*time.Millisecond)), log)
	}

	engine, err := media.NewEngine(media.EngineConfig{IP: mediaIP, Ports: *ports, Mux: o.rtpMux, NoOffload: !o.rtpOffload})
	if err != nil {
		return err
	}
	defer engine.Close() // after the SIP server hung up every call
	sipCfg.Handler, sipCfg.Media = gw, engine
	srv, err := sip.NewServer(sipCfg)
	if err != nil {
		return err
	}
	if o.apiToken == "" && !loopback(o.httpListen) {
		return fmt.Errorf("--api-token is required when --http-listen (%s) is not a loopback address: the recordings API would be open to the network", o.httpListen)
	}
	ln, err := net.Listen("tcp", o.httpListen)
	if err != nil {
		return fmt.Errorf("--http-listen: %w", err)
	}
	if useTLS {
		cert, err := tls.LoadX509KeyPair(o.auth.tlsCert, o.auth.tlsKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--http-tls-cert/--http-tls-key: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	drainReq := make(chan struct{}, 1)
	go drainOnRequest(ctx, srv, backlog(uploads, events), drainReq, o.drainTimeout, stopAll, log)
	requestDrain := func() {
		select {
		case drainReq <- struct{}{}:
		default:
		}
	}
	httpSrv := &http.Server{Handler: cluster.wrap(routes(o, gw, srv, gwCfg.Store, events, uploads, ba, requestDrain, log)),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute,
		MaxHeaderBytes: 64 << 10}
	go func() {
		if err := httpSrv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "err", err)
		}
	}()
	log.Info("botline ready", "sip", o.sipListen, "sipTls", o.sip.tlsListen, "srtp", o.sip.srtp, "sipAllow", o.sip.allow,
		"sipAuth", o.sip.auth != "", "http", ln.Addr().String(), "https", useTLS, "serviceUrl", o.publicURL, "botAppId", o.auth.appID,
		"bot", botDesc, "recordings", dir, "mediaIp", mediaIP.String(), "rtpPorts", o.rtpPorts, "rtpMux", o.rtpMux,
		"evidencePublicKey", evidencePublicKey(gwCfg.EvidenceKey))

	sipErr := srv.ListenAndServe(ctx) // returns after hanging up live calls
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.Wait(shutCtx); err != nil {
		log.Warn("shutdown", "err", err)
	}
	_ = httpSrv.Shutdown(shutCtx)
	log.Info("botline stopped")
	return sipErr
}

// routes is everything served on --http-listen. Beside the Connector API
// (which bots call with no token), every route that shows or changes
// recordings or the gateway's state needs --api-token when one is set;
// /healthz answers anyone that the gateway is up, and only a token holder
// how many calls it carries.
func routes(o *options, gw *channel.Gateway, srv *sip.Server, store recorder.Store, events *recordingsapi.Notifier, uploads *s3store.Uploader, ba *botauth.Authority, drain func(), log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/v3/", connectorAPI(gw.Handler(), ba, o.httpListen))
	if ba != nil {
		ba.Register(mux)
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		body, code := map[string]any{"status": "ok", "node": o.nodeID}, http.StatusOK
		if srv.Draining() { // a load balancer's readiness probe: send no more here
			body["status"], code = "draining", http.StatusServiceUnavailable
		}
		if auth.Allowed(o.apiToken, r) {
			body["calls"] = gw.Live()
		}
		httpjson.Write(w, code, body)
	})
	mux.HandleFunc("POST /admin/drain", auth.RequireBearer(o.apiToken, func(w http.ResponseWriter, _ *http.Request) {
		drain()
		httpjson.Write(w, http.StatusAccepted, map[string]any{"status": "draining", "calls": gw.Live()})
	}))
	mux.HandleFunc("GET /stats", auth.RequireBearer(o.apiToken, func(w http.ResponseWriter, _ *http.Request) {
		httpjson.Write(w, http.StatusOK, srv.Stats())
	}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{srv: srv, gw: gw, events: events, uploads: uploads}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", auth.RequireBearer(o.apiToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP))
	(&recordingsapi.Downloads{Store: store, Token: o.apiToken, Logger: log}).Register(mux)
	(&recordingsapi.UI{Token: o.apiToken, Logger: log}).Register(mux)
	gw.RegisterRecordingsAPI(mux, o.apiToken)
	if o.pprof {
		mux.HandleFunc("/debug/pprof/", auth.RequireBearer(o.apiToken, pprof.Index))
		mux.HandleFunc("/debug/pprof/profile", auth.RequireBearer(o.apiToken, pprof.Profile))
	}
	return mux
}

// evidencePublicKey is the base64 public key recording manifests are
// signed with (what `botline verify -key` takes); "" without one.
func evidencePublicKey(k ed25519.PrivateKey) string {
	if k == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(k.Public().(ed25519.PublicKey))
}
