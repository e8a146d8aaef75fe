package main

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"

	"github.com/botline/botline/channel"
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

// run assembles the gateway from the options and serves until ctx ends.
// Each step checks its own flags and refuses, in one line naming the flag,
// before anything listens.
func run(ctx context.Context, o *options, log *slog.Logger) error {
	ctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	var atExit cleanups
	defer atExit.run()
	sipCfg, engineCfg, err := o.signalling(log)
	if err != nil {
		return err
	}
	dir, err := recordingsDir(o.recordingsDir)
	if err != nil {
		return err
	}
	gwCfg, uploads, cluster, err := o.gatewayConfig(ctx, dir, log)
	if err != nil {
		return err
	}
	if t := gwCfg.BotUnavailable.Target; t != "" { // the operator's own number
		sipCfg.TransferAllow = append(sipCfg.TransferAllow, t)
	}
	ba, useTLS, err := o.botAuthority(dir)
	if err != nil {
		return err
	}
	bot, botDesc, err := botTransport(o, ba, log)
	if err != nil {
		return err
	}
	gwCfg.Bot = bot
	after, err := o.afterCall(dir, &gwCfg, uploads, log)
	if err != nil {
		return err
	}
	gw := channel.New(gwCfg)
	connectStreaming(ctx, bot, &atExit, log)
	announceRepaired(dir, gwCfg, o.publicURL, log)
	if err := o.startStorage(ctx, gwCfg.Store, after, &atExit, log); err != nil {
		return err
	}
	engine, err := media.NewEngine(engineCfg)
	if err != nil {
		return err
	}
	atExit.add(engine.Close) // after the SIP server hung up every call
	sipCfg.Handler, sipCfg.Media = gw, engine
	srv, err := sip.NewServer(sipCfg)
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil { // bound before "botline ready": a caller that reads it can call
		return err
	}
	ln, err := o.httpListener(useTLS)
	if err != nil {
		return err
	}
	drain := drainer(ctx, srv, after, o.drainTimeout, stopAll, log)
	httpSrv := serveHTTP(ln, cluster.Wrap(routes(o, gw, srv, gwCfg.Store, after, uploads, ba, drain, log)), log)
	log.Info("botline ready", "sip", o.sipListen, "sipTls", o.sip.tlsListen, "srtp", o.sip.srtp, "sipAllow", o.sip.allow,
		"sipAuth", o.sip.auth != "", "http", ln.Addr().String(), "https", useTLS, "serviceUrl", o.publicURL, "botAppId", o.auth.appID,
		"bot", botDesc, "recordings", dir, "mediaIp", engineCfg.IP.String(), "rtpPorts", o.rtpPorts, "rtpMux", o.rtpMux,
		"evidencePublicKey", evidencePublicKey(gwCfg.EvidenceKey))
	sipErr := srv.ListenAndServe(ctx) // returns after hanging up live calls
	shutdown(gw, httpSrv, log)
	return sipErr
}

// routes is everything served on --http-listen. Beside the Connector API
// (which bots call with no token), every route that shows or changes
// recordings or the gateway's state needs --api-token when one is set;
// /healthz answers anyone that the gateway is up, and only a token holder
// how many calls it carries.
func routes(o *options, gw *channel.Gateway, srv *sip.Server, store recorder.Store, after *recordingsapi.AfterCall, uploads *s3store.Uploader, ba *botauth.Authority, drain func(), log *slog.Logger) http.Handler {
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
	reg.MustRegister(collector{srv: srv, gw: gw, after: after, uploads: uploads}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", auth.RequireBearer(o.apiToken, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP))
	(&recordingsapi.Downloads{Store: store, Token: o.apiToken, Logger: log}).Register(mux)
	(&recordingsapi.UI{Token: o.apiToken, Logger: log}).Register(mux)
	(&recordingsapi.Control{Calls: gw.Recordings(), Token: o.apiToken, Logger: log}).Register(mux)
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
