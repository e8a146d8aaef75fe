package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/botline/botline/internal/audio"
	"github.com/botline/botline/internal/udpbatch"
	"github.com/botline/botline/sip/siptest"
	"github.com/emiago/sipgo"
	"github.com/zaf/g711"
)

// config is one load run.
type config struct {
	target      string
	localIP     string
	calls       int
	concurrency int
	rate        float64
	hold        time.Duration
	dtmf        string
	maxTime     time.Duration
	shards      int
	// sharedRTP: each sender's calls share one RTP socket, sent with
	// sendmmsg and received with recvmmsg; false: a socket per call.
	sharedRTP bool
	// offload: the shared sockets use UDP GSO and GRO (Linux).
	offload bool
}

// result is what one call did.
type result struct {
	err     string
	setup   time.Duration
	sent    uint64
	stats   callStats
	ended   bool // the far end hung up before the hold time
	dtmfSkp bool
}

type callStats struct {
	expected, received, lost, late uint64
	jitter                         time.Duration
}

// pacer sends one 20 ms packet for every call it holds at every tick:
// a few goroutines with one timer each, not one per call. With a shared
// port, its calls' packets of a tick leave in batches.
type pacer struct {
	mu      sync.Mutex
	calls   map[*siptest.Call]*uint64
	skipped uint64           // packets not sent because the generator fell behind
	port    *siptest.RTPPort // nil: every call has a socket of its own
}

func (p *pacer) add(c *siptest.Call, sent *uint64) {
	p.mu.Lock()
	p.calls[c] = sent
	p.mu.Unlock()
}

func (p *pacer) remove(c *siptest.Call) {
	p.mu.Lock()
	delete(p.calls, c)
	p.mu.Unlock()
}

func (p *pacer) run(ctx context.Context, audio []int16) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	ticks := 0
	pos := 0
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			// Ticks the ticker dropped (generator starved) become timestamp
			// gaps, so they show as loss rather than as lateness forever.
			due := int(now.Sub(start) / (20 * time.Millisecond))
			skip := max(0, due-ticks-1)
			ticks = max(ticks+1, due)
			frame := audio[pos : pos+160]
			pos = (pos + 160) % (len(audio) - 160)
			p.mu.Lock()
			queued := 0
			for c, sent := range p.calls {
				if skip > 0 {
					c.SkipFrames(skip)
					p.skipped += uint64(skip)
				}
				var err error
				if p.port != nil {
					err = p.port.Queue(c, frame)
					queued++
				} else {
					err = c.SendPacket(frame)
				}
				if err == nil {
					*sent++
				}
			}
			if p.port != nil {
				p.skipped += uint64(queued - p.port.Flush()) // a full socket buffer
			}
			p.mu.Unlock()
		}
	}
}

// toneAudio is 1 s of a 440 Hz tone at -10 dBFS plus one frame, looped by
// the senders.
func toneAudio() []int16 {
	return audio.Sine(440, 10362, 8000, 8000+160)
}

var encodeUlaw = g711.EncodeUlawFrame

// run places the calls and returns the report.
func run(ctx context.Context, cfg config) (*report, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.maxTime)
	defer cancel()
	phone, err := siptest.NewPhone(ctx, cfg.localIP)
	if err != nil {
		return nil, err
	}
	audio := toneAudio()
	pacers := make([]*pacer, cfg.shards)
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	for i := range pacers {
		pacers[i] = &pacer{calls: map[*siptest.Call]*uint64{}}
		if cfg.sharedRTP {
			var opts []udpbatch.Option
			if !cfg.offload {
				opts = append(opts, udpbatch.WithoutOffload())
			}
			if pacers[i].port, err = phone.NewRTPPort(opts...); err != nil {
				return nil, err
			}
			defer pacers[i].port.Close()
		}
		go pacers[i].run(pctx, audio)
	}

	var ru0 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	results := make([]result, cfg.calls)
	sem := make(chan struct{}, cfg.concurrency)
	interval := time.Duration(float64(time.Second) / cfg.rate)
	var wg sync.WaitGroup
	next := time.Now()
	attempted := 0
launch:
	for i := range cfg.calls {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				<-sem
				break launch
			}
		}
		next = next.Add(interval)
		attempted++
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = placeCall(ctx, cfg, phone, pacers[i%len(pacers)], i)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var skipped uint64
	for _, p := range pacers {
		p.mu.Lock()
		skipped += p.skipped
		p.mu.Unlock()
	}
	var ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	rep := summarize(cfg, results[:attempted], elapsed, cpu)
	rep.TxSkipped = skipped
	if rep.RTPSent > 0 {
		rep.TxSkippedPct = 100 * float64(skipped) / float64(rep.RTPSent+skipped)
	}
	return rep, nil
}

func placeCall(ctx context.Context, cfg config, phone *siptest.Phone, p *pacer, i int) result {
	var r result
	t0 := time.Now()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	var call *siptest.Call
	var err error
	if p.port != nil {
		call, err = phone.DialVia(dctx, p.port, cfg.target, fmt.Sprintf("+1555%07d", i), "+18005550199", nil)
	} else {
		call, err = phone.Dial(dctx, cfg.target, fmt.Sprintf("+1555%07d", i), "+18005550199", nil)
	}
	cancel()
	if err != nil {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			r.err = fmt.Sprintf("%d %s", de.Res.StatusCode, de.Res.Reason)
		} else {
			r.err = "setup: " + err.Error()
		}
		return r
	}
	r.setup = time.Since(t0)
	if cfg.dtmf != "" {
		r.dtmfSkp = !call.QueueDTMF(cfg.dtmf)
	}
	var sent uint64
	p.add(call, &sent)
	hold := time.NewTimer(cfg.hold)
	select {
	case <-hold.C:
	case <-call.Ended():
		r.ended = true
	case <-ctx.Done():
	}
	hold.Stop()
	p.remove(call)
	p.mu.Lock()
	r.sent = sent
	p.mu.Unlock()
	st := call.Stats()
	r.stats = callStats{expected: st.Expected(), received: st.Received, lost: st.Lost(), late: st.Late, jitter: st.Jitter()}
	if r.ended {
		call.Close()
		r.err = "far end hung up during the hold time"
		return r
	}
	bctx, bcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer bcancel()
	if err := call.Hangup(bctx); err != nil {
		r.err = "BYE: " + err.Error()
	}
	return r
}

// report is the outcome of a run.
type report struct {
	Target          string         `json:"target"`
	Attempted       int            `json:"attempted"`
	Answered        int            `json:"answered"`
	Failed          int            `json:"failed"`
	Errors          map[string]int `json:"errors,omitempty"`
	SetupP50Ms      float64        `json:"setupP50Ms"`
	SetupP99Ms      float64        `json:"setupP99Ms"`
	SetupMaxMs      float64        `json:"setupMaxMs"`
	RTPSent         uint64         `json:"rtpSent"`
	TxSkipped       uint64         `json:"txSkipped"` // packets the generator could not send in time
	TxSkippedPct    float64        `json:"txSkippedPct"`
	RxExpected      uint64         `json:"rxExpected"`
	RxReceived      uint64         `json:"rxReceived"`
	RxLost          uint64         `json:"rxLost"`
	RxLate          uint64         `json:"rxLate"`
	RxLossPct       float64        `json:"rxLossPct"`
	RxLatePct       float64        `json:"rxLatePct"`
	RxJitterMeanMs  float64        `json:"rxJitterMeanMs"`
	RxJitterMaxMs   float64        `json:"rxJitterMaxMs"`
	ElapsedS        float64        `json:"elapsedS"`
	CPUSeconds      float64        `json:"cpuSeconds"`
	CPUCores        float64        `json:"cpuCores"`
	DTMFUnsupported int            `json:"dtmfUnsupported,omitempty"`
	Gateway         *gatewayStats  `json:"gateway,omitempty"`
}

// gatewayStats is the gateway's view of the generator's audio (its /stats
// difference over the run): the other direction.
type gatewayStats struct {
	Calls        uint64  `json:"calls"`
	RTPReceived  uint64  `json:"rtpReceived"`
	RTPLost      uint64  `json:"rtpLost"`
	RTPLate      uint64  `json:"rtpLate"`
	RTPSkipped   uint64  `json:"rtpSkipped"` // frames the gateway could not send in time
	SkippedPct   float64 `json:"skippedPct"`
	LossPct      float64 `json:"lossPct"`
	LatePct      float64 `json:"latePct"`
	MaxJitterMs  float64 `json:"maxJitterMs"`
	MeanJitterMs float64 `json:"meanJitterMs"`
}

func summarize(cfg config, rs []result, elapsed, cpu time.Duration) *report {
	rep := &report{Target: cfg.target, Attempted: len(rs), Errors: map[string]int{},
		ElapsedS: elapsed.Seconds(), CPUSeconds: cpu.Seconds(), CPUCores: cpu.Seconds() / elapsed.Seconds()}
	var setups []time.Duration
	var jitterSum time.Duration
	var jitterN int
	for _, r := range rs {
		if r.setup > 0 {
			rep.Answered++
			setups = append(setups, r.setup)
			rep.RTPSent += r.sent
			rep.RxExpected += r.stats.expected
			rep.RxReceived += r.stats.received
			rep.RxLost += r.stats.lost
			rep.RxLate += r.stats.late
			jitterSum += r.stats.jitter
			jitterN++
			rep.RxJitterMaxMs = max(rep.RxJitterMaxMs, ms(r.stats.jitter))
		}
		if r.dtmfSkp {
			rep.DTMFUnsupported++
		}
		if r.err != "" {
			rep.Failed++
			rep.Errors[r.err]++
		}
	}
	if len(setups) > 0 {
		sort.Slice(setups, func(i, j int) bool { return setups[i] < setups[j] })
		rep.SetupP50Ms = ms(setups[len(setups)/2])
		rep.SetupP99Ms = ms(setups[min(len(setups)-1, len(setups)*99/100)])
		rep.SetupMaxMs = ms(setups[len(setups)-1])
		rep.RxJitterMeanMs = ms(jitterSum / time.Duration(jitterN))
	}
	if rep.RxExpected > 0 {
		rep.RxLossPct = 100 * float64(rep.RxLost) / float64(rep.RxExpected)
		rep.RxLatePct = 100 * float64(rep.RxLate) / float64(rep.RxExpected)
	}
	return rep
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e4) / 100 }
