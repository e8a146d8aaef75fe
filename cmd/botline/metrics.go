package main

// This file serves /metrics in the Prometheus text format. Every value is
// read from the gateway's own counters when Prometheus scrapes: nothing is
// added to the per-packet path.

import (
	"strconv"

	"github.com/botline/botline/channel"
	"github.com/botline/botline/internal/auth"
	"github.com/botline/botline/internal/metric"
	"github.com/botline/botline/recorder"
	"github.com/botline/botline/recorder/s3store"
	"github.com/botline/botline/recordingsapi"
	"github.com/botline/botline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// collector turns the SIP server's and the gateway's counters into
// Prometheus metrics at scrape time.
type collector struct {
	srv     *sip.Server
	gw      *channel.Gateway
	after   *recordingsapi.AfterCall // nil without --events-url or --store
	uploads *s3store.Uploader        // nil without --store
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("botline_"+name, help, labels, nil)
}

var (
	descCallsActive     = desc("calls_active", "Calls being set up or up.")
	descCallsTotal      = desc("calls_total", "Answered calls that ended, by end reason.", "reason")
	descResponses       = desc("sip_responses_total", "SIP responses sent by botline's handlers, by status code.", "code")
	descRefused         = desc("sip_refused_total", "SIP requests turned away, by why.", "why")
	descSetup           = desc("call_setup_seconds", "From the INVITE to the ACK of the 200 OK, ringing included.")
	descRTP             = desc("rtp_packets_total", "RTP packets of ended calls, by kind: received, sent, lost, late, foreign, strangers, skipped, srtp_failed.", "kind")
	descJitterMax       = desc("rtp_jitter_max_seconds", "Largest interarrival jitter of an ended call.")
	descConversations   = desc("conversations_active", "Bot conversations whose call has not fully ended.")
	descRecordings      = desc("recordings_active", "Recordings of live calls, by state.", "state")
	descRecordingsDone  = desc("recordings_finished_total", "Recording sessions finalized.")
	descRecordedSeconds = desc("recorded_seconds_total", "Audio in finalized recordings.")
	descRecordedBytes   = desc("recorded_bytes_total", "Bytes of the audio files of finalized recordings.")
	descWebhookQueue    = desc("webhook_queue", "File-ready events spooled, their recordings uploaded (with --store), and not yet taken by every webhook.")
	descWebhookPosts    = desc("webhook_posts_total", "File-ready event posts to webhooks, by result: delivered, or failed (retried with backoff).", "result")
	descDiskQueue       = desc("recording_disk_queue", "Recording writes queued for the disk goroutines, not yet written.")
	descDiskWaits       = desc("recording_disk_waits_total", "Recording writes that found the disk queue full and held up the media clock: the disk does not keep up.")
	descUploadQueue     = desc("upload_queue", "Finished recordings waiting to be uploaded to --store.")
	descUploads         = desc("uploads_total", "Upload attempts to --store, by result: uploaded (files), or failed (retried with backoff).", "result")
	descUploadedBytes   = desc("uploaded_bytes_total", "Bytes uploaded to --store.")
	descDelivery        = desc("bot_delivery_seconds", "Time to deliver one activity to the bot (failed deliveries included).")
	descDeliveryFailed  = desc("bot_delivery_failures_total", "Deliveries to the bot that failed after the transport's retries.")
	descTTS             = desc("tts_seconds", "Synthesis of one prompt.")
	descAuthFailures    = desc("http_auth_failures_total", "Wrong secrets given to the HTTP side (API token, page login, the bot's app password); ten from one address within a minute lock it out for five.")
	descSTT             = desc("stt_seconds", "Recognition of one utterance.")
)

// servedCodes are the SIP responses counted from start, at zero until sent.
var servedCodes = []int{180, 200, 400, 401, 403, 404, 481, 486, 487, 488, 500, 503}

// Describe sends every metric's description.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCallsActive, descCallsTotal, descResponses, descRefused, descSetup, descRTP,
		descJitterMax, descConversations, descRecordings, descRecordingsDone, descRecordedSeconds, descRecordedBytes, descWebhookQueue, descWebhookPosts,
		descDiskQueue, descDiskWaits, descUploadQueue, descUploads, descUploadedBytes, descDelivery,
		descDeliveryFailed, descTTS, descSTT, descAuthFailures} {
		ch <- d
	}
}

// Collect reads the counters.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	histogram := func(d *prometheus.Desc, s metric.Snapshot) {
		ch <- prometheus.MustNewConstHistogram(d, s.Count, s.Sum, s.Cumulative())
	}
	st := c.srv.Stats()
	gauge(descCallsActive, float64(c.srv.Active()))
	for _, reason := range sip.EndReasons { // every reason from start, zero or not
		counter(descCallsTotal, float64(st.EndReasons[reason]), string(reason))
	}
	responses := c.srv.Responses()
	for _, code := range servedCodes { // the usual codes from start; any other once sent
		if _, ok := responses[code]; !ok {
			responses[code] = 0
		}
	}
	for code, n := range responses {
		counter(descResponses, float64(n), strconv.Itoa(code))
	}
	counter(descRefused, float64(st.RefusedSource), "source")
	counter(descRefused, float64(st.RefusedUnauthorized), "unauthorized")
	counter(descRefused, float64(st.RefusedRateLimited), "rate_limited")
	counter(descRefused, float64(st.RefusedOverCapacity), "over_capacity")
	counter(descRefused, float64(st.RefusedDraining), "draining")
	counter(descRefused, float64(st.RefusedLockedOut), "locked_out")
	counter(descRefused, float64(st.ConnRefusedSource), "connection_source")
	counter(descRefused, float64(st.ConnRefusedLimit), "connection_limit")
	counter(descRefused, float64(st.ConnHandshakeFailed), "tls_handshake")
	counter(descRefused, float64(st.ConnAcceptErrors), "accept_error")
	histogram(descSetup, c.srv.Setup())
	for kind, n := range map[string]uint64{"received": st.RTPReceived, "sent": st.RTPSent, "lost": st.RTPLost, "late": st.RTPLate,
		"foreign": st.RTPForeign, "strangers": st.RTPStrangers, "skipped": st.RTPSkipped, "srtp_failed": st.SRTPFailed} {
		counter(descRTP, float64(n), kind)
	}
	gauge(descJitterMax, float64(st.MaxJitterUs)/1e6)
	m := c.gw.Metrics()
	gauge(descConversations, float64(m.Conversations))
	gauge(descRecordings, float64(m.Recording), "recording")
	gauge(descRecordings, float64(m.Paused), "paused")
	counter(descRecordingsDone, float64(m.RecordingsFinished))
	counter(descRecordedSeconds, m.RecordedSeconds)
	counter(descRecordedBytes, float64(m.RecordedBytes))
	disk := recorder.Disk()
	gauge(descDiskQueue, float64(disk.Queued))
	counter(descDiskWaits, float64(disk.Waits))
	// Served from start, zero without --events-url or --store: a dashboard
	// or an alert never finds them missing.
	var queues recordingsapi.AfterCallStats
	if c.after != nil {
		queues = c.after.Stats()
	}
	gauge(descWebhookQueue, float64(queues.Notifying))
	counter(descWebhookPosts, float64(queues.Delivered), "delivered")
	counter(descWebhookPosts, float64(queues.Failures), "failed")
	var up s3store.UploadStats
	if c.uploads != nil {
		up = c.uploads.Stats()
	}
	gauge(descUploadQueue, float64(queues.Uploading))
	counter(descUploads, float64(up.Uploaded), "uploaded")
	counter(descUploads, float64(up.Failures), "failed")
	counter(descUploadedBytes, float64(up.Bytes))
	histogram(descDelivery, m.Delivery)
	counter(descDeliveryFailed, float64(m.DeliveryFailures))
	counter(descAuthFailures, float64(auth.Failures()))
	histogram(descTTS, m.TTS)
	histogram(descSTT, m.STT)
}
