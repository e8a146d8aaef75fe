package recordingsapi

// This file serves live listening: a supervisor's WebSocket gets a call's
// mixed audio as it happens. The media path (the call's sink) only copies
// a frame into a buffer the listener lent it; nothing is allocated or
// blocked per frame.

import (
	"encoding/binary"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/internal/httpjson"
	"github.com/gorilla/websocket"
)

// listenBuffers is how many frames a listener may lag behind (20 ms each);
// past that frames are dropped for it, never queued without bound.
const listenBuffers = 25

// listener is one live listener's frame queue.
type listener struct {
	frames  chan []byte // filled frames, to the WebSocket
	free    chan []byte // empty buffers, back from the WebSocket
	done    chan struct{}
	dropped atomic.Uint64
}

// Listeners are a call's live listeners; the zero value has none.
type Listeners struct {
	mu     sync.Mutex
	set    atomic.Pointer[[]*listener] // read per frame, replaced on change
	closed atomic.Bool                 // the call ended: CloseAll ran
}

func (ls *Listeners) add(l *listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var next []*listener
	if p := ls.set.Load(); p != nil {
		next = append(next, *p...)
	}
	next = append(next, l)
	ls.set.Store(&next)
}

func (ls *Listeners) remove(l *listener) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	p := ls.set.Load()
	if p == nil {
		return
	}
	next := make([]*listener, 0, len(*p))
	for _, x := range *p {
		if x != l {
			next = append(next, x)
		}
	}
	ls.set.Store(&next)
}

// CloseAll tells every listener the call ended.
func (ls *Listeners) CloseAll() {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	ls.closed.Store(true)
	if p := ls.set.Swap(nil); p != nil {
		for _, l := range *p {
			close(l.done)
		}
	}
}

// Active reports whether anyone listens; the per-frame check.
func (ls *Listeners) Active() bool {
	p := ls.set.Load()
	return p != nil && len(*p) > 0
}

// Write hands one frame to every listener: the caller and what was played
// mixed, as 16-bit little-endian PCM, or silence while silent (the
// recording is paused). It never blocks: a listener that lags loses the
// frame.
func (ls *Listeners) Write(caller, played []int16, silent bool) {
	p := ls.set.Load()
	if p == nil {
		return
	}
	n := min(len(caller), len(played))
	for _, l := range *p {
		var buf []byte
		select {
		case buf = <-l.free:
		default:
			l.dropped.Add(1) // the listener lags: skip it this frame
			continue
		}
		buf = buf[:2*n]
		for i := 0; i < n; i++ {
			var v int16
			if !silent {
				v = int16(max(-32768, min(32767, int32(caller[i])+int32(played[i]))))
			}
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(v))
		}
		l.frames <- buf // cannot block: there are as many slots as buffers
	}
}

// listenHeader is the first (text) message of a listen socket.
type listenHeader struct {
	CallID     string `json:"callId"`
	Format     string `json:"format"` // pcm_s16le
	SampleRate int    `json:"sampleRate"`
	Channels   int    `json:"channels"`
	FrameMs    int    `json:"frameMs"`
}

var listenUpgrader = websocket.Upgrader{ReadBufferSize: 512, WriteBufferSize: 4096}

// listen is GET /calls/{callId}/listen: a WebSocket that carries the
// call's mixed audio, one binary message per 20 ms frame (8 kHz mono
// 16-bit little-endian PCM) after a JSON header, until the call ends or
// the listener leaves. While the recording is paused the listener hears
// silence, as the recording keeps nothing.
func (c *Control) listen(w http.ResponseWriter, r *http.Request) {
	callID := r.PathValue("callId")
	call, ok := c.Calls.ByCallID(callID)
	if !ok {
		httpjson.Error(w, http.StatusNotFound, "CallNotFound", "no active call with that id")
		return
	}
	ws, err := listenUpgrader.Upgrade(w, r, nil) // answers a bad upgrade itself
	if err != nil {
		return
	}
	defer ws.Close()
	l := &listener{frames: make(chan []byte, listenBuffers), free: make(chan []byte, listenBuffers), done: make(chan struct{})}
	for range listenBuffers {
		l.free <- make([]byte, 0, 2*160)
	}
	log := c.logger().With("callId", callID, "listener", r.RemoteAddr)
	if err := ws.WriteJSON(listenHeader{CallID: callID, Format: "pcm_s16le", SampleRate: 8000, Channels: 1, FrameMs: 20}); err != nil {
		return
	}
	ls := call.Listeners()
	ls.add(l)
	defer ls.remove(l)
	if ls.closed.Load() { // ended between the lookup and add: CloseAll has run
		ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "call ended"))
		return
	}
	log.Info("live listener joined")
	left := make(chan struct{})
	go func() { // the listener sends nothing; a read error is its leaving
		defer close(left)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	for {
		select {
		case buf := <-l.frames:
			ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
			err := ws.WriteMessage(websocket.BinaryMessage, buf)
			l.free <- buf
			if err != nil {
				log.Info("live listener gone", "err", err, "dropped", l.dropped.Load())
				return
			}
		case <-l.done:
			ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "call ended"))
			log.Info("live listener: call ended", "dropped", l.dropped.Load())
			return
		case <-left:
			log.Info("live listener left", "dropped", l.dropped.Load())
			return
		}
	}
}
