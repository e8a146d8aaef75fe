package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// capacityStep is one row of the capacity table.
type capacityStep struct {
	Calls         int
	Report        *report
	GatewayCores  float64 // steady state, all calls up
	GatewayRSSMiB float64 // peak
	IdleRSSMiB    float64
	KiBPerCall    float64
	FloorCores    float64
	Ratio         float64
	LossLatePct   float64
	Verdict       string
}

// generator is how the load generator sends its calls' RTP.
type generator struct{ sharedRTP, offload bool }

// runCapacity steps concurrency against a fresh gateway per step (embedded
// bot recording every call) and against the floor, and writes the table.
func runCapacity(args []string) error {
	fs := flag.NewFlagSet("capacity", flag.ExitOnError)
	botline := fs.String("botline", "bin/botline", "the botline binary")
	stepsArg := fs.String("steps", "100,250,500,1000,2000,3000", "concurrency steps")
	hold := fs.Duration("hold", 20*time.Second, "hold time of every call")
	rate := fs.Float64("rate", 200, "call setups per second")
	out := fs.String("out", "docs/PERFORMANCE.md", "where to write the table")
	work := fs.String("work", os.TempDir(), "scratch directory for recordings")
	compare := fs.String("compare", "", "another botline binary (e.g. the previous build) run at every step right after --botline: the table gives both and their ratio")
	extra := fs.String("args", "", "more flags for the --botline gateway, space separated (e.g. --rtp-mux)")
	compareExtra := fs.String("compare-args", "", "more flags for the --compare gateway, space separated")
	var gen generator
	fs.BoolVar(&gen.sharedRTP, "shared-rtp", true, "the generator sends each sender's calls from one RTP socket in batches; false: a socket per call")
	fs.BoolVar(&gen.offload, "offload", true, "with --shared-rtp, the generator's sockets use UDP GSO and GRO (Linux); false: one packet per message")
	pin := fs.Bool("pin", true, "with more than one CPU: the gateway (and the floor) on CPU 0, the generator on the others")
	fs.Parse(args)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	p, err := newPinning(*pin)
	if err != nil {
		return err
	}
	var steps, others []capacityStep
	for _, s := range strings.Split(*stepsArg, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("--steps: %q", s)
		}
		st, err := capacityStepRun(p, *botline, strings.Fields(*extra), self, n, *hold, *rate, *work, gen)
		if err != nil {
			return err
		}
		steps = append(steps, st)
		logStep(*botline, st)
		ok := st.Verdict == "ok"
		if *compare != "" {
			ot, err := capacityStepRun(p, *compare, strings.Fields(*compareExtra), self, n, *hold, *rate, *work, gen)
			if err != nil {
				return err
			}
			others = append(others, ot)
			logStep(*compare, ot)
			ok = ok || ot.Verdict == "ok"
		}
		if !ok {
			break
		}
	}
	table := capacityMarkdown(steps, *hold, *rate, p, strings.Join(os.Args, " "))
	if *compare != "" {
		table = compareMarkdown(steps, others, strings.TrimSpace(*botline+" "+*extra), strings.TrimSpace(*compare+" "+*compareExtra), *hold, *rate, p, strings.Join(os.Args, " "))
	}
	return writeBetweenMarkers(*out, table)
}

func logStep(bin string, st capacityStep) {
	r := st.Report
	fmt.Fprintf(os.Stderr, "%s, %d calls: gateway %.3f cores (%.0f calls per core), floor %.3f cores, %.0f KiB/call, loss+late %.3f%%, failed %d: %s\n",
		bin, st.Calls, st.GatewayCores, callsPerCore(st), st.FloorCores, st.KiBPerCall, st.LossLatePct, r.Failed, st.Verdict)
	fmt.Fprintf(os.Stderr, "  to the gateway: loss %.3f%% late %.3f%% (generator skipped %.3f%%); from it: loss %.3f%% late %.3f%% (gateway skipped %.3f%%); setup p99 %.1f ms; generator %.2f cores\n",
		r.Gateway.LossPct, r.Gateway.LatePct, r.TxSkippedPct, r.RxLossPct, r.RxLatePct, r.Gateway.SkippedPct, r.SetupP99Ms, r.CPUCores)
}

// callsPerCore is the step's calls over the gateway's cores.
func callsPerCore(st capacityStep) float64 {
	if st.GatewayCores <= 0 {
		return 0
	}
	return float64(st.Calls) / st.GatewayCores
}

const beginMarker, endMarker = "<!-- capacity:begin -->", "<!-- capacity:end -->"

// writeBetweenMarkers replaces the text between the capacity markers of
// path (creating the file or appending the markers if missing), keeping
// the hand-written analysis around it.
func writeBetweenMarkers(path, table string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	s := string(old)
	block := beginMarker + "\n" + table + endMarker
	i, j := strings.Index(s, beginMarker), strings.Index(s, endMarker)
	if i >= 0 && j > i {
		s = s[:i] + block + s[j+len(endMarker):]
	} else {
		s += "\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}

func capacityStepRun(p pinning, botline string, extra []string, self string, n int, hold time.Duration, rate float64, work string, gen generator) (capacityStep, error) {
	st := capacityStep{Calls: n}
	dir, err := os.MkdirTemp(work, "capacity-")
	if err != nil {
		return st, err
	}
	defer os.RemoveAll(dir)
	const sipAddr, httpAddr = "127.0.0.1:35060", "127.0.0.1:38080"
	gw := p.command(botline, append([]string{"--sip-listen", sipAddr, "--http-listen", httpAddr, "--recordings-dir", filepath.Join(dir, "rec"),
		"--default-bot-call-time", "0", "--rtp-ports", "20000-39999", "--log-format", "json",
		// speech recognition costs per utterance (~1 s of CPU each with
		// pocketsphinx), not per call: it is measured apart (make bench)
		"--stt", "none"}, extra...)...)
	// The generator is one source: no per-source INVITE limit (an
	// environment variable, which builds older than the flag ignore).
	gw.Env = append(os.Environ(), "BOTLINE_SIP_INVITE_RATE=0")
	var gwLog bytes.Buffer
	gw.Stderr = &gwLog
	if err := gw.Start(); err != nil {
		return st, err
	}
	defer func() { gw.Process.Signal(os.Interrupt); gw.Wait() }()
	if err := waitHealthy("http://" + httpAddr + "/healthz"); err != nil {
		return st, fmt.Errorf("%w: %s", err, gwLog.String())
	}
	st.IdleRSSMiB = float64(procRSS(gw.Process.Pid, "VmRSS")) / 1024

	cfg := config{target: sipAddr, localIP: "127.0.0.1", calls: n, concurrency: n, rate: rate, hold: hold,
		maxTime: hold + time.Duration(float64(n)/rate*float64(time.Second)) + 2*time.Minute, shards: runtime.GOMAXPROCS(0),
		sharedRTP: gen.sharedRTP, offload: gen.offload}
	before, _ := fetchStats("http://" + httpAddr + "/stats")
	cores := sampleSteady(gw.Process.Pid, time.Duration(float64(n)/rate*float64(time.Second)), hold)
	rep, err := run(context.Background(), cfg)
	if err != nil {
		return st, err
	}
	after, _ := settledStats("http://"+httpAddr+"/stats", before, rep.Answered)
	rep.Gateway = diff(before, after)
	st.Report = rep
	st.GatewayCores = <-cores
	st.GatewayRSSMiB = float64(procRSS(gw.Process.Pid, "VmHWM")) / 1024
	st.KiBPerCall = (st.GatewayRSSMiB - st.IdleRSSMiB) * 1024 / float64(n)
	st.LossLatePct = max(rep.RxLossPct+rep.RxLatePct+rep.Gateway.SkippedPct, rep.Gateway.LossPct+rep.Gateway.LatePct+rep.TxSkippedPct)

	// The floor: the same streams, received and written by the least code.
	fl := p.command(self, "--floor", "127.0.0.1:40000", "--calls", strconv.Itoa(n), "--floor-dir", filepath.Join(dir, "floor"))
	if err := fl.Start(); err != nil {
		return st, err
	}
	time.Sleep(500 * time.Millisecond) // let it bind its sockets
	fcores := sampleSteady(fl.Process.Pid, 0, hold)
	if _, err := runRTPOnly(context.Background(), config{localIP: "127.0.0.1", calls: n, hold: hold}, "127.0.0.1", 40000); err != nil {
		return st, err
	}
	st.FloorCores = <-fcores
	fl.Process.Signal(os.Interrupt)
	fl.Wait()
	if st.FloorCores > 0 {
		st.Ratio = st.GatewayCores / st.FloorCores
	}
	st.Verdict = "ok"
	switch {
	case rep.Failed > 0:
		st.Verdict = fmt.Sprintf("%d calls failed", rep.Failed)
	case st.LossLatePct > 0.1:
		st.Verdict = "loss+late over 0.1%"
	}
	return st, nil
}

// sampleSteady measures pid's CPU (user+sys, in cores) between setup+2s and
// setup+hold-2s from now: the window in which all calls are up.
func sampleSteady(pid int, setup, hold time.Duration) <-chan float64 {
	ch := make(chan float64, 1)
	go func() {
		from, to := setup+2*time.Second, setup+hold-2*time.Second
		if to <= from {
			from, to = setup, setup+hold
		}
		time.Sleep(from)
		c0, t0 := procCPU(pid), time.Now()
		time.Sleep(to - from)
		c1, t1 := procCPU(pid), time.Now()
		ch <- (c1 - c0).Seconds() / t1.Sub(t0).Seconds()
	}()
	return ch
}

// procCPU is a process's user+sys time from /proc/PID/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

// procRSS reads a VmRSS/VmHWM line (KiB) from /proc/PID/status.
func procRSS(pid int, key string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return v
		}
	}
	return 0
}

func waitHealthy(url string) error {
	for range 200 {
		if res, err := http.Get(url); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("gateway never became healthy")
}

func capacityMarkdown(steps []capacityStep, hold time.Duration, rate float64, p pinning, cmd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| concurrent calls | answered / failed | setup p50 / p99 ms | loss+late+skipped %% (worst direction) | jitter max ms (to / from gw) | gateway CPU cores | calls per gateway core | per call (ms CPU/s) | gateway RSS MiB (idle) | KiB per call | floor CPU cores | ratio to floor | generator CPU cores | verdict |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range steps {
		r := s.Report
		fmt.Fprintf(&b, "| %d | %d / %d | %.2f / %.2f | %.3f | %.2f / %.2f | %.3f | %.0f | %.3f | %.0f (%.0f) | %.0f | %.3f | %.1fx | %.2f | %s |\n",
			s.Calls, r.Answered, r.Failed, r.SetupP50Ms, r.SetupP99Ms, s.LossLatePct, r.Gateway.MaxJitterMs, r.RxJitterMaxMs,
			s.GatewayCores, callsPerCore(s), 1000*s.GatewayCores/float64(s.Calls), s.GatewayRSSMiB, s.IdleRSSMiB, s.KiBPerCall, s.FloorCores, s.Ratio, r.CPUCores, s.Verdict)
	}
	footer(&b, hold, rate, p, cmd)
	return b.String()
}

// compareMarkdown puts two builds measured step by step side by side, with
// the ratio of the first to the second.
func compareMarkdown(a, b []capacityStep, aName, bName string, hold time.Duration, rate float64, p pinning, cmd string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "A = `%s`, B = `%s`, run one after the other at every step.\n\n", aName, bName)
	fmt.Fprintf(&s, "| concurrent calls | gateway cores A / B | A / B | calls per core A / B | KiB per call A / B | A / B | loss+late+skipped %% A / B | ratio to floor A / B | generator cores A / B | verdict A / B |\n")
	fmt.Fprintf(&s, "|---|---|---|---|---|---|---|---|---|---|\n")
	ratio := func(x, y float64) float64 {
		if y == 0 {
			return 0
		}
		return x / y
	}
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		fmt.Fprintf(&s, "| %d | %.3f / %.3f | %.2f | %.0f / %.0f | %.0f / %.0f | %.2f | %.3f / %.3f | %.1fx / %.1fx | %.2f / %.2f | %s / %s |\n",
			x.Calls, x.GatewayCores, y.GatewayCores, ratio(x.GatewayCores, y.GatewayCores), callsPerCore(x), callsPerCore(y),
			x.KiBPerCall, y.KiBPerCall, ratio(x.KiBPerCall, y.KiBPerCall), x.LossLatePct, y.LossLatePct, x.Ratio, y.Ratio,
			x.Report.CPUCores, y.Report.CPUCores, x.Verdict, y.Verdict)
	}
	footer(&s, hold, rate, p, cmd)
	return s.String()
}

func footer(b *strings.Builder, hold time.Duration, rate float64, p pinning, cmd string) {
	fmt.Fprintf(b, "\nMachine: %d cores (runtime.NumCPU), %s. Hold %v per call, setup rate %.0f calls/s; %s.\n",
		runtime.NumCPU(), runtime.Version(), hold, rate, p.describe())
	fmt.Fprintf(b, "Command: `%s`\n", cmd)
}
