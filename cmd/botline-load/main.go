package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "capacity" {
		if err := runCapacity(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "botline-load capacity:", err)
			os.Exit(1)
		}
		return
	}
	var cfg config
	var statsURL string
	var asJSON bool
	fs := flag.NewFlagSet("botline-load", flag.ExitOnError)
	fs.StringVar(&cfg.target, "target", "127.0.0.1:5060", "SIP target host:port (loopback only)")
	fs.StringVar(&cfg.localIP, "local-ip", "127.0.0.1", "local address for SIP and RTP (loopback only)")
	fs.IntVar(&cfg.calls, "calls", 100, "calls to place in all")
	fs.IntVar(&cfg.concurrency, "concurrency", 100, "calls up at once at most")
	fs.Float64Var(&cfg.rate, "rate", 50, "call setups per second")
	fs.DurationVar(&cfg.hold, "hold", 10*time.Second, "how long each call streams audio before BYE")
	fs.StringVar(&cfg.dtmf, "dtmf", "", "digits each call sends as RFC 4733 events right after answer")
	fs.DurationVar(&cfg.maxTime, "max-time", 10*time.Minute, "hard bound on the whole run")
	fs.IntVar(&cfg.shards, "senders", runtime.GOMAXPROCS(0), "sender goroutines pacing the RTP")
	fs.BoolVar(&cfg.sharedRTP, "shared-rtp", true, "each sender's calls share one RTP socket (sendmmsg/recvmmsg; the offers declare each call's SSRC); false: a socket per call")
	fs.BoolVar(&cfg.offload, "offload", true, "with --shared-rtp, the shared sockets use UDP GSO and GRO (Linux); false: one packet per message")
	fs.StringVar(&statsURL, "gateway-stats", "", "botline's /stats URL, to report the generator-to-gateway direction")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	floorAt := fs.String("floor", "", "run the measuring floor instead: receive --calls RTP streams on even ports from this ip:port and write them to files")
	floorDir := fs.String("floor-dir", os.TempDir(), "where the floor writes its files")
	rtpOnly := fs.String("rtp-only", "", "stream --calls RTP streams without SIP to even ports from this ip:port (the floor)")
	fs.Parse(os.Args[1:])
	if err := validate(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "botline-load:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *floorAt != "" || *rtpOnly != "" {
		at := *floorAt + *rtpOnly
		ap, err := netip.ParseAddrPort(at)
		if err != nil || !ap.Addr().IsLoopback() {
			fmt.Fprintf(os.Stderr, "botline-load: %q: want a loopback ip:port\n", at)
			os.Exit(2)
		}
		if *floorAt != "" {
			err = runFloor(ctx, ap.Addr().String(), int(ap.Port()), cfg.calls, *floorDir)
		} else {
			var rep *report
			if rep, err = runRTPOnly(ctx, cfg, ap.Addr().String(), int(ap.Port())); err == nil {
				printReport(os.Stdout, rep)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "botline-load:", err)
			os.Exit(1)
		}
		return
	}
	before, err := fetchStats(statsURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline-load:", err)
		os.Exit(1)
	}
	rep, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "botline-load:", err)
		os.Exit(1)
	}
	if statsURL != "" {
		after, err := settledStats(statsURL, before, rep.Answered)
		if err != nil {
			fmt.Fprintln(os.Stderr, "botline-load:", err)
			os.Exit(1)
		}
		rep.Gateway = diff(before, after)
	}
	if asJSON {
		json.NewEncoder(os.Stdout).Encode(rep)
	} else {
		printReport(os.Stdout, rep)
	}
	if rep.Failed > 0 {
		os.Exit(1)
	}
}

func validate(cfg config) error {
	host, _, err := net.SplitHostPort(cfg.target)
	if err != nil {
		return fmt.Errorf("--target: %w", err)
	}
	for name, h := range map[string]string{"--target": host, "--local-ip": cfg.localIP} {
		ip, err := netip.ParseAddr(h)
		if err != nil || !ip.IsLoopback() {
			return fmt.Errorf("%s %q: only loopback addresses (127.0.0.0/8, ::1) are allowed", name, h)
		}
	}
	switch {
	case cfg.calls < 1 || cfg.calls > 100000:
		return errors.New("--calls must be 1..100000")
	case cfg.concurrency < 1:
		return errors.New("--concurrency must be >= 1")
	case cfg.rate <= 0 || cfg.rate > 5000:
		return errors.New("--rate must be in (0, 5000]")
	case cfg.hold <= 0 || cfg.hold > time.Hour:
		return errors.New("--hold must be in (0, 1h]")
	case cfg.maxTime <= 0 || cfg.maxTime > 2*time.Hour:
		return errors.New("--max-time must be in (0, 2h]")
	case cfg.shards < 1:
		return errors.New("--senders must be >= 1")
	}
	return nil
}

// rawStats mirrors botline's /stats.
type rawStats struct {
	Calls, RTPReceived, RTPLost, RTPLate, RTPSent, RTPSkipped uint64
	MaxJitterUs, MeanJitterUs                                 int64
}

func fetchStats(url string) (rawStats, error) {
	var s rawStats
	if url == "" {
		return s, nil
	}
	res, err := http.Get(url)
	if err != nil {
		return s, fmt.Errorf("gateway stats: %w", err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return s, fmt.Errorf("gateway stats: %d %s", res.StatusCode, b)
	}
	return s, json.Unmarshal(b, &s)
}

// settledStats fetches the gateway's stats once it has counted every
// answered call: it answers BYE before it finishes ending the call, so the
// last calls' counters land a moment after the generator is done.
func settledStats(url string, before rawStats, answered int) (rawStats, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		after, err := fetchStats(url)
		if err != nil || after.Calls-before.Calls >= uint64(answered) || time.Now().After(deadline) {
			return after, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func diff(a, b rawStats) *gatewayStats {
	g := &gatewayStats{Calls: b.Calls - a.Calls, RTPReceived: b.RTPReceived - a.RTPReceived,
		RTPLost: b.RTPLost - a.RTPLost, RTPLate: b.RTPLate - a.RTPLate, RTPSkipped: b.RTPSkipped - a.RTPSkipped,
		MaxJitterMs: float64(b.MaxJitterUs) / 1000, MeanJitterMs: float64(b.MeanJitterUs) / 1000}
	if exp := g.RTPReceived + g.RTPLost; exp > 0 {
		g.LossPct = 100 * float64(g.RTPLost) / float64(exp)
		g.LatePct = 100 * float64(g.RTPLate) / float64(exp)
	}
	if sent := (b.RTPSent - a.RTPSent) + g.RTPSkipped; sent > 0 {
		g.SkippedPct = 100 * float64(g.RTPSkipped) / float64(sent)
	}
	return g
}

func printReport(w io.Writer, r *report) {
	fmt.Fprintf(w, "target %s: %d attempted, %d answered, %d failed in %.1fs\n", r.Target, r.Attempted, r.Answered, r.Failed, r.ElapsedS)
	for e, n := range r.Errors {
		fmt.Fprintf(w, "  %dx %s\n", n, e)
	}
	fmt.Fprintf(w, "setup (INVITE to 200 OK): p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.SetupP50Ms, r.SetupP99Ms, r.SetupMaxMs)
	fmt.Fprintf(w, "to gateway:   %d RTP packets sent, %d skipped (generator behind)", r.RTPSent, r.TxSkipped)
	if g := r.Gateway; g != nil {
		fmt.Fprintf(w, "; gateway got %d, lost %d (%.3f%%), late %d (%.3f%%), jitter mean %.2f ms max %.2f ms",
			g.RTPReceived, g.RTPLost, g.LossPct, g.RTPLate, g.LatePct, g.MeanJitterMs, g.MaxJitterMs)
	}
	fmt.Fprintln(w)
	if g := r.Gateway; g != nil && g.RTPSkipped > 0 {
		fmt.Fprintf(w, "gateway skipped %d frames (%.3f%%): it ran behind\n", g.RTPSkipped, g.SkippedPct)
	}
	fmt.Fprintf(w, "from gateway: %d expected, %d received, lost %d (%.3f%%), late %d (%.3f%%), jitter mean %.2f ms max %.2f ms\n",
		r.RxExpected, r.RxReceived, r.RxLost, r.RxLossPct, r.RxLate, r.RxLatePct, r.RxJitterMeanMs, r.RxJitterMaxMs)
	fmt.Fprintf(w, "generator CPU: %.2f s (%.2f cores)\n", r.CPUSeconds, r.CPUCores)
	if r.DTMFUnsupported > 0 {
		fmt.Fprintf(w, "DTMF not negotiated on %d calls\n", r.DTMFUnsupported)
	}
}
