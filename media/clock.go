package media

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// clock ticks every call's media every 20 ms from one goroutine per core,
// instead of one timer per call: a call's own goroutine then wakes only for
// its packets. Calls are spread over the shards round-robin; a shard's lock
// is taken once per tick and when a call joins or leaves, never per packet.
type clock struct {
	shards []*clockShard
	next   atomic.Uint32
	stop   chan struct{}
	once   sync.Once
}

type clockShard struct {
	mu     sync.Mutex
	medias []*Stream
	// out, with --rtp-mux, is the shared socket of the shard's calls:
	// their ticks queue packets there, sent in batches after the tick.
	out *muxShard
}

func newClock() *clock {
	c := &clock{stop: make(chan struct{})}
	for range runtime.GOMAXPROCS(0) {
		s := &clockShard{}
		c.shards = append(c.shards, s)
		go s.run(c.stop)
	}
	return c
}

// close stops the tick goroutines.
func (c *clock) close() { c.once.Do(func() { close(c.stop) }) }

// pick chooses the shard of the next call, round robin.
func (c *clock) pick() int { return int(c.next.Add(1)) % len(c.shards) }

// add puts m on shard i (-1: the next, round robin).
func (c *clock) add(m *Stream, i int) {
	if i < 0 {
		i = c.pick()
	}
	s := c.shards[i]
	s.mu.Lock()
	m.shard, m.shardIdx = s, len(s.medias)
	s.medias = append(s.medias, m)
	s.mu.Unlock()
}

// remove takes m off its shard; it returns after any tick in progress, so
// m gets no tick afterwards.
func (s *clockShard) remove(m *Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := m.shardIdx
	if i < 0 || i >= len(s.medias) || s.medias[i] != m {
		return
	}
	last := len(s.medias) - 1
	s.medias[i] = s.medias[last]
	s.medias[i].shardIdx = i
	s.medias[last] = nil
	s.medias = s.medias[:last]
	m.shardIdx = -1
}

func (s *clockShard) run(stop <-chan struct{}) {
	next := time.Now().Add(frameTime)
	t := time.NewTimer(frameTime)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		now := time.Now()
		// Behind schedule (CPU starved), the frames due are still recorded
		// and their RTP timestamps still advance, so the caller's and the
		// recording's timelines stay true to the clock; only the first
		// maxCatchUp are sent (late), the rest are dropped, not burst.
		for k := 0; !now.Before(next); k++ {
			send := k < maxCatchUp
			s.mu.Lock()
			for _, m := range s.medias {
				m.tick(now, send)
			}
			if s.out != nil {
				s.out.flush()
			}
			s.mu.Unlock()
			next = next.Add(frameTime)
			if k == maxSkip { // stalled for seconds: jump, do not replay
				next = now.Add(frameTime)
			}
		}
		t.Reset(time.Until(next))
	}
}
