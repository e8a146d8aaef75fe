package channel

import (
	"sync/atomic"
	"time"

	"github.com/botline/botline/internal/metric"
	"github.com/botline/botline/recorder"
)

// metrics are the gateway's counters for /metrics; none is touched per
// audio frame.
type metrics struct {
	delivery           *metric.Histogram // bot delivery latency
	deliveryFailures   atomic.Uint64
	recordingsFinished atomic.Uint64
	recordedMs         atomic.Uint64 // audio in finished recordings
	recordedBytes      atomic.Uint64 // their files' sizes
	ttsTime, sttTime   *metric.Histogram
}

func newMetrics() metrics {
	return metrics{
		delivery: metric.NewHistogram(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
		ttsTime:  metric.NewHistogram(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
		sttTime:  metric.NewHistogram(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
	}
}

func (m *metrics) observeDelivery(d time.Duration, err error) {
	m.delivery.Observe(d)
	if err != nil {
		m.deliveryFailures.Add(1)
	}
}

// Metrics is a snapshot of the gateway's counters.
type Metrics struct {
	Conversations      int64 // live
	Recording, Paused  int   // live recordings, by state
	RecordingsFinished uint64
	RecordedSeconds    float64
	RecordedBytes      uint64          // audio files of finished recordings, headers included
	Delivery           metric.Snapshot // bot delivery latency (every try, failed ones too)
	DeliveryFailures   uint64
	TTS, STT           metric.Snapshot // synthesis of one prompt, recognition of one utterance
}

// Metrics reads the gateway's counters.
func (g *Gateway) Metrics() Metrics {
	m := Metrics{
		Conversations:      g.live.Load(),
		RecordingsFinished: g.recordingsFinished.Load(),
		RecordedSeconds:    float64(g.recordedMs.Load()) / 1000,
		RecordedBytes:      g.recordedBytes.Load(),
		Delivery:           g.delivery.Snapshot(),
		DeliveryFailures:   g.deliveryFailures.Load(),
		TTS:                g.ttsTime.Snapshot(),
		STT:                g.sttTime.Snapshot(),
	}
	for _, c := range g.calls.live() {
		switch c.rec.State() {
		case recorder.Recording:
			m.Recording++
		case recorder.Paused:
			m.Paused++
		}
	}
	return m
}
