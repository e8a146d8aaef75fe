package recorder

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// This file takes a recording's writes off the media clock. The clock
// hands each call's frame to its recorder every 20 ms; a write(2) that
// waits for the disk (dirty-page writeback, a busy journal) would hold up
// every call of the clock's shard. So a recording file is an asyncFile:
// its sequential writes and header patches are copied into pooled buffers
// and queued to one of a few disk goroutines, which write them in order.
// A file's operations all go to the same goroutine: one writer per file,
// in the order they were made.

// diskBuf is the size of the pooled buffers a write is copied into; a
// larger write is split. It matches the WAV writer's bufio buffer.
const diskBuf = 8192

// diskQueue bounds the operations waiting for one disk goroutine: at 1,000
// calls (a flush every 0.5 s and a header patch every second per call)
// that is about a second of a stalled disk. A full queue makes the writer
// wait, as a synchronous write would.
const diskQueue = 2048

var (
	disksOnce sync.Once
	disks     []chan diskOp
	nextDisk  atomic.Uint32
	diskWaits atomic.Uint64 // writes that found their disk goroutine's queue full
	bufPool   = sync.Pool{New: func() any { b := make([]byte, diskBuf); return &b }}
)

// DiskStats is how the recordings' disk keeps up.
type DiskStats struct {
	// Queued is the writes made and not yet done by the disk goroutines.
	Queued int
	// Waits counts writes that found the queue full and waited: the disk
	// does not keep up with the calls being recorded, and the media clock
	// waited for it.
	Waits uint64
}

// Disk returns the recordings' disk figures, over every recording.
func Disk() DiskStats {
	disksOnce.Do(startDisks)
	st := DiskStats{Waits: diskWaits.Load()}
	for _, q := range disks {
		st.Queued += len(q)
	}
	return st
}

// enqueue queues op, counting a wait when the queue is full.
func (a *asyncFile) enqueue(op diskOp) {
	select {
	case a.q <- op:
	default:
		diskWaits.Add(1)
		a.q <- op
	}
}

// diskOp is one queued operation on a file.
type diskOp struct {
	f    *asyncFile
	buf  *[]byte // pooled; nil for a header patch or a barrier
	n    int
	off  int64     // a header patch's offset
	hdr  [64]byte  // a header patch's bytes
	done chan bool // a barrier: closed once everything before it ran
}

// startDisks starts the disk goroutines: two per core, so one slow file
// system call does not hold up every file.
func startDisks() {
	disks = make([]chan diskOp, 2*runtime.GOMAXPROCS(0))
	for i := range disks {
		disks[i] = make(chan diskOp, diskQueue)
		go runDisk(disks[i])
	}
}

func runDisk(q chan diskOp) {
	for op := range q {
		op.f.do(&op)
	}
}

// asyncFile is a wavFile whose Write and WriteAt return at once and take
// effect in order on a disk goroutine. An error there is kept and
// returned by the next call; Seek, Truncate, Sync and Close first wait for
// what is queued (they are rare: start, recovery, end).
type asyncFile struct {
	f  wavFile
	fd int // f's descriptor, or -1: for starting writeback early
	q  chan diskOp

	mu  sync.Mutex
	err error // the first failed operation's, until Truncate clears it
	// written is where the sequential writes reached on disk: the file
	// offset after the last one that succeeded.
	written atomic.Int64
}

// newAsyncFile queues f's writes; its offset is at.
func newAsyncFile(f wavFile, at int64) *asyncFile {
	disksOnce.Do(startDisks)
	a := &asyncFile{f: f, fd: -1, q: disks[nextDisk.Add(1)%uint32(len(disks))]}
	if of, ok := f.(interface{ Fd() uintptr }); ok {
		a.fd = int(of.Fd())
	}
	a.written.Store(at)
	return a
}

// sticky is the error an earlier queued operation failed with.
func (a *asyncFile) sticky() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Write queues b (copied) to be appended.
func (a *asyncFile) Write(b []byte) (int, error) {
	if err := a.sticky(); err != nil {
		return 0, err
	}
	n := len(b)
	for len(b) > 0 {
		buf := bufPool.Get().(*[]byte)
		k := copy(*buf, b)
		a.enqueue(diskOp{f: a, buf: buf, n: k})
		b = b[k:]
	}
	return n, nil
}

// WriteAt queues a header patch of up to 64 bytes at off.
func (a *asyncFile) WriteAt(b []byte, off int64) (int, error) {
	if err := a.sticky(); err != nil {
		return 0, err
	}
	op := diskOp{f: a, off: off, n: len(b)}
	if copy(op.hdr[:], b) < len(b) {
		return 0, fmt.Errorf("write at %d: %d bytes is more than a header", off, len(b))
	}
	a.enqueue(op)
	return len(b), nil
}

// do runs one operation on the disk goroutine.
func (a *asyncFile) do(op *diskOp) {
	if op.done != nil {
		close(op.done)
		return
	}
	failed := a.sticky() != nil // after a failure nothing more is written: the data would have a hole
	var err error
	switch {
	case failed:
	case op.buf != nil:
		var n int
		n, err = a.f.Write((*op.buf)[:op.n])
		at := a.written.Add(int64(n)) - int64(n)
		if a.fd >= 0 && n > 0 {
			startWriteback(a.fd, at, int64(n))
		}
	default:
		_, err = a.f.WriteAt(op.hdr[:op.n], op.off)
	}
	if op.buf != nil {
		bufPool.Put(op.buf)
	}
	if err != nil {
		a.mu.Lock()
		if a.err == nil {
			a.err = err
		}
		a.mu.Unlock()
	}
}

// wait returns once every operation queued before it ran, with the error
// one of them failed with.
func (a *asyncFile) wait() error {
	done := make(chan bool)
	a.q <- diskOp{f: a, done: done}
	<-done
	return a.sticky()
}

// Seek waits for the queue, then moves the file offset.
func (a *asyncFile) Seek(off int64, whence int) (int64, error) {
	if err := a.wait(); err != nil {
		return 0, err
	}
	pos, err := a.f.Seek(off, whence)
	if err == nil {
		a.written.Store(pos)
	}
	return pos, err
}

// Truncate waits for the queue, forgets its error (the caller is cutting
// the file back to what it knows is whole) and cuts the file to size.
func (a *asyncFile) Truncate(size int64) error {
	_ = a.wait()
	a.mu.Lock()
	a.err = nil
	a.mu.Unlock()
	return a.f.Truncate(size)
}

// Sync waits for the queue and flushes the file to the disk.
func (a *asyncFile) Sync() error {
	if err := a.wait(); err != nil {
		return err
	}
	return a.f.Sync()
}

// Close waits for the queue and closes the file.
func (a *asyncFile) Close() error {
	err := a.wait()
	return errors.Join(err, a.f.Close())
}
