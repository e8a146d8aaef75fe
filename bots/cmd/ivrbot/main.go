package main

import (
	"flag"
	"log/slog"
	"net/http"
	"os"

	"github.com/botline/botline/bots/ivr"
	"github.com/botline/botline/bots/recordbot"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:3978", "address of the bot's messaging endpoint (/api/messages)")
	agent := flag.String("agent", "+18005550100", "number key 0 transfers the caller to")
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	bot := &ivr.Bot{Agent: *agent, Log: log}
	h := recordbot.Serve(bot.OnActivity, recordbot.HTTPConnector{})
	log.Info("ivrbot listening", "url", "http://"+*listen+"/api/messages")
	if err := http.ListenAndServe(*listen, h); err != nil {
		log.Error("ivrbot", "err", err)
		os.Exit(1)
	}
}
