package main

import (
	"flag"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/botline/botline/bots/recordbot"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3978", "address of the bot's messaging endpoint (/api/messages)")
	callTime := flag.Duration("call-time", 30*time.Second, "hang up this long after the caller joins (0 = never)")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	bot := &recordbot.Bot{CallTime: *callTime, Log: log}
	log.Info("recordbot listening", "url", "http://"+*listen+"/api/messages")
	if err := http.ListenAndServe(*listen, bot.Handler(recordbot.HTTPConnector{})); err != nil {
		log.Error("recordbot", "err", err)
		os.Exit(1)
	}
}
