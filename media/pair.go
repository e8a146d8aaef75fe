package media

import "sync"

// streamPair joins two streams (a SIPREC call's two directions) into one
// sink: the second stream queues its frames; the first hands the sink its
// own frame with the second's oldest as "played", so a stereo recording's
// right channel is the second stream. Both media tick every
// 20 ms; a few frames of slack absorb their drift. Nothing is allocated
// per frame.
type streamPair struct {
	mu    sync.Mutex
	sink  AudioSink
	ring  [8][FrameSize]int16
	head  int // next to read
	count int
	right [FrameSize]int16
}

// secondStream is the second stream's sink.
type secondStream struct{ p *streamPair }

// WriteAudio queues the second stream's frame.
func (s secondStream) WriteAudio(caller, _ []int16) {
	p := s.p
	p.mu.Lock()
	if p.count == len(p.ring) { // the first stream fell behind: drop the oldest
		p.head = (p.head + 1) % len(p.ring)
		p.count--
	}
	copy(p.ring[(p.head+p.count)%len(p.ring)][:], caller)
	p.count++
	p.mu.Unlock()
}

// WriteAudio hands the handler the first stream's frame and the second's.
func (p *streamPair) WriteAudio(caller, _ []int16) {
	p.mu.Lock()
	if p.count > 0 {
		p.right = p.ring[p.head]
		p.head = (p.head + 1) % len(p.ring)
		p.count--
	} else {
		p.right = [FrameSize]int16{}
	}
	p.mu.Unlock()
	p.sink.WriteAudio(caller, p.right[:len(caller)])
}

// JoinPair returns the sinks of two streams whose heard audio reaches
// sink as one frame: the first's as heard, the second's as played (left
// and right of a stereo recording). Start the second stream first.
func JoinPair(sink AudioSink) (first, second AudioSink) {
	p := &streamPair{sink: sink}
	return p, secondStream{p}
}
