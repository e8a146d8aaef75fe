package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
)

// afterCallWait bounds how long a drained node waits for its last
// recordings to be uploaded and announced; what is left goes on at the
// next start.
const afterCallWait = 150 * time.Second

// drainOnRequest drains the gateway on SIGTERM or a request (POST
// /admin/drain): SIP takes no new call and OPTIONS answers 503, so a
// proxy's dispatcher sends calls elsewhere; the calls in progress end on
// their own (their recordings finalized as at any hang-up); then stop
// ends the process. A second SIGTERM, or timeout (0 = none), hangs up
// what is left at once.
func drainOnRequest(ctx context.Context, srv *sip.Server, after *recordingsapi.AfterCall, req <-chan struct{}, timeout time.Duration, stop func(), log *slog.Logger) {
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
	if after != nil { // the last recordings' uploads and events, a bounded while
		qctx, cancel := context.WithTimeout(wctx, afterCallWait)
		err := after.WaitEmpty(qctx)
		cancel()
		if err != nil {
			st := after.Stats()
			log.Warn("stopping with work still spooled; it goes on at the next start", "uploads", st.Uploading, "events", st.Notifying)
		}
	}
	log.Info("drained: no call left, stopping")
	stop()
}
