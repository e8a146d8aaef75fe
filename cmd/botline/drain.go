package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/botline/botline/sip"
)

// drainOnRequest drains the gateway on SIGTERM or a request (POST
// /admin/drain): SIP takes no new call and OPTIONS answers 503, so a
// proxy's dispatcher sends calls elsewhere; the calls in progress end on
// their own (their recordings finalized as at any hang-up); then stop
// ends the process. A second SIGTERM, or timeout (0 = none), hangs up
// what is left at once.
func drainOnRequest(ctx context.Context, srv *sip.Server, req <-chan struct{}, timeout time.Duration, stop func(), log *slog.Logger) {
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
	} else {
		log.Info("drained: no call left, stopping")
	}
	stop()
}
