package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/botline/botline/recorder/s3store"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
)

// queue is work a drained node finishes before it stops: uploads of its
// last recordings, then their file-ready events.
type queue struct {
	name string        // for the log
	wait time.Duration // at most
	q    interface {
		WaitEmpty(context.Context) error
	}
	queued func() int64
}

// backlog lists the queues a node has: uploads first, since each
// recording's event waits for its upload.
func backlog(uploads *s3store.Uploader, events *recordingsapi.Notifier) []queue {
	var qs []queue
	if uploads != nil {
		qs = append(qs, queue{"recording uploads", 2 * time.Minute, uploads, func() int64 { return uploads.Stats().Queued }})
	}
	if events != nil {
		qs = append(qs, queue{"file-ready events", 30 * time.Second, events, func() int64 { return events.Stats().Queued }})
	}
	return qs
}

// drainOnRequest drains the gateway on SIGTERM or a request (POST
// /admin/drain): SIP takes no new call and OPTIONS answers 503, so a
// proxy's dispatcher sends calls elsewhere; the calls in progress end on
// their own (their recordings finalized as at any hang-up); then stop
// ends the process. A second SIGTERM, or timeout (0 = none), hangs up
// what is left at once.
func drainOnRequest(ctx context.Context, srv *sip.Server, backlog []queue, req <-chan struct{}, timeout time.Duration, stop func(), log *slog.Logger) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	defer signal.Stop(term)
	select {
	case <-term:
		log.Info("SIGTERM: draining")
	case <-req:
		log.Info("drain requested")
	case <-ctx.Done():
		return
	}
	srv.Drain()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timeout > 0 {
		wctx, cancel = context.WithTimeout(wctx, timeout)
		defer cancel()
	}
	go func() {
		select {
		case <-term:
			log.Warn("second SIGTERM: hanging up the calls left")
			cancel()
		case <-wctx.Done():
		}
	}()
	if err := srv.WaitIdle(wctx); err != nil {
		log.Warn("drain cut short: hanging up the calls left", "calls", srv.Active(), "err", err)
		stop()
		return
	}
	for _, q := range backlog { // the last recordings' uploads and events, a bounded while
		qctx, cancel := context.WithTimeout(wctx, q.wait)
		err := q.q.WaitEmpty(qctx)
		cancel()
		if err != nil {
			log.Warn("stopping with work still spooled; it goes on at the next start", "queue", q.name, "queued", q.queued())
		}
	}
	log.Info("drained: no call left, stopping")
	stop()
}
