package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/botline/botline/media"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// EndReason says why a call ended (Handler.CallEnded): a code, the key of
// /stats' endReasons and the reason label of /metrics; Text gives the
// wording logs and the bot's endOfConversation use.
type EndReason string

// End reasons.
const (
	EndRemoteHangup EndReason = "remote_hangup"
	EndLocalHangup  EndReason = "local_hangup"
	EndNoAck        EndReason = "no_ack"
	EndShutdown     EndReason = "shutdown"
	EndRTPTimeout   EndReason = "rtp_timeout"
	EndTransferred  EndReason = "transferred"
	EndTargetHungUp EndReason = "target_hung_up"
)

// EndReasons are every end reason, for counters served from start.
var EndReasons = []EndReason{EndRemoteHangup, EndLocalHangup, EndNoAck, EndShutdown, EndRTPTimeout, EndTransferred, EndTargetHungUp}

// Text is the reason in words.
func (r EndReason) Text() string {
	switch r {
	case EndRemoteHangup:
		return "caller hung up"
	case EndLocalHangup:
		return "gateway hung up"
	case EndNoAck:
		return "no ACK for 200 OK"
	case EndShutdown:
		return "gateway shutting down"
	case EndRTPTimeout:
		return "no RTP from the caller"
	case EndTransferred:
		return "transferred"
	case EndTargetHungUp:
		return "transfer target hung up"
	}
	return string(r)
}

// Call is one answered call.
type Call struct {
	ID      string // SIP Call-ID
	FromURI string // caller's URI
	ToURI   string // dialed URI
	Caller  string // caller's number (user part of From)
	Dialed  string // dialed number (user part of To)
	// Called is the user part of the INVITE's Request-URI: the number the
	// call was routed to, which a trunk or proxy sets (To is the caller's
	// say).
	Called string
	Codec  string // negotiated codec name
	// Transport is the SIP transport the call came in over: UDP, TCP or
	// TLS.
	Transport string
	// SRTP is the media's SDES suite (AES_CM_128_HMAC_SHA1_80, ...), ""
	// for plain RTP.
	SRTP     string
	Answered time.Time
	// SIPREC is set when the call is a recording session an SBC forked to
	// botline (RFC 7866): its two streams reach the handler's sink as the
	// two sides of the recorded call, and botline sends no media.
	SIPREC *Recording

	srv    *Server
	dialog *sipgo.DialogServerSession
	// contact is ours in this dialog (plain, or TLS when the call came
	// over TLS): in-dialog responses carry it.
	contact *sip.ContactHeader
	media   *media.Stream
	media2  *media.Stream // a SIPREC call's second stream
	// recOffers and recMetadata are a SIPREC session's current streams and
	// metadata (a re-INVITE may change the streams, and need not repeat
	// the metadata).
	recOffers   [2]*Offer
	recMetadata []byte

	// the SDP we answered with: its o= id and version, our RTP port and
	// the SSRC we send with (which every answer declares)
	sdpID, sdpVersion uint64
	rtpPort           int
	ssrc              uint32
	lastOffer         *Offer
	reinvite          sync.Mutex // guards the three above after answer

	mu          sync.Mutex
	delayed     bool                       // the INVITE had no SDP: the answer comes in the ACK
	reoffered   bool                       // an SDP-less re-INVITE got our offer: its ACK may answer
	early       []earlyClip                // played before the media existed
	final       media.Stats                // the media's counts, once the call ended
	ackSDP      []byte                     // that answer
	referNotify chan int                   // a REFER in progress: NOTIFY status codes
	leg         *sipgo.DialogClientSession // a bridged transfer's outbound call
	legCallID   string
	// transferring: a Transfer is in progress; a second one is refused.
	transferring atomic.Bool

	ready    chan struct{} // closed once answering finished, well or not
	answered bool          // the handler was told of the call (set before ready)
	endOnce  sync.Once
	done     chan struct{}
}

// MediaStats returns the call's RTP counts once it has ended (zero
// before): Handler.CallEnded may read them.
func (c *Call) MediaStats() media.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.final
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Play queues 8 kHz 16-bit PCM to be played to the caller (and recorded
// as what the gateway played), after anything already queued. The tag is
// the caller's own, reported by Playing while the clip plays. The slice
// must not change afterwards. Before the call is answered (a Screener
// still deciding) clips wait, in order, for the media.
func (c *Call) Play(samples []int16, tag uint64) {
	c.mu.Lock()
	m := c.media
	if m == nil {
		c.early = append(c.early, earlyClip{samples, tag})
	}
	c.mu.Unlock()
	if m != nil {
		m.Play(samples, tag)
	}
}

// earlyClip is a clip played before the call had its media.
type earlyClip struct {
	samples []int16
	tag     uint64
}

// mediaNow is the call's media, nil before the answer.
func (c *Call) mediaNow() *media.Stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media
}

// setMedia gives the call its media, queueing the clips played before.
func (c *Call) setMedia(m *media.Stream) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.early {
		m.Play(cl.samples, cl.tag)
	}
	c.media, c.early = m, nil
}

// Playing returns the tag of the clip playing now, if one is.
func (c *Call) Playing() (tag uint64, ok bool) {
	m := c.mediaNow()
	if m == nil {
		return 0, false
	}
	return m.Playing()
}

// StopPlayback drops the clip playing and every queued one (barge-in);
// it returns how many were dropped.
func (c *Call) StopPlayback() int {
	m := c.mediaNow()
	if m == nil {
		c.mu.Lock()
		defer c.mu.Unlock()
		n := len(c.early)
		c.early = nil
		return n
	}
	return m.StopPlayback()
}

// ErrNoTelephoneEvent is returned by SendDTMF when the caller's SDP did not
// offer RFC 4733 telephone-event.
var ErrNoTelephoneEvent = media.ErrNoTelephoneEvent

// SendDTMF sends keys (0-9, *, #, A-D) to the caller as RFC 4733 events,
// after any queued ones.
func (c *Call) SendDTMF(digits string) error {
	m := c.mediaNow()
	if m == nil {
		return ErrNoTelephoneEvent
	}
	return m.SendDTMF(digits)
}

// Hangup sends BYE to the caller and ends the call.
func (c *Call) Hangup(ctx context.Context) error {
	return c.hangup(ctx, EndLocalHangup)
}

func (c *Call) hangup(ctx context.Context, reason EndReason) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	err := c.bye(ctx)
	c.end(reason)
	if err != nil {
		return fmt.Errorf("send BYE: %w", err)
	}
	return nil
}

// end stops the media (so the last frame reaches the sink first), then tells
// the handler. It runs once.
func (c *Call) end(reason EndReason) {
	c.endOnce.Do(func() {
		close(c.done)
		<-c.ready
		c.srv.forget(c)
		if !c.answered {
			return
		}
		defer c.srv.ends.Done()
		defer c.srv.ended() // after the handler finished with the call
		stats := media.Stats{}
		if c.media2 != nil { // first, so its last frame is queued before the first's
			c.media2.Stop()
		}
		if c.media != nil {
			stats = c.media.Stop()
		}
		c.mu.Lock()
		c.final = stats
		c.mu.Unlock()
		c.srv.totals.add(stats, reason)
		c.srv.log.Info("call ended", "callId", c.ID, "reason", reason,
			"duration", time.Since(c.Answered).Round(time.Millisecond).String(),
			"rtpReceived", stats.Received, "rtpLost", stats.Lost, "rtpLate", stats.Late,
			"rtpSent", stats.Sent, "jitter", stats.Jitter.String())
		c.srv.cfg.Handler.CallEnded(c, reason)
		c.dialog.Close()
		c.mu.Lock()
		leg, legID := c.leg, c.legCallID
		c.mu.Unlock()
		if leg != nil {
			c.srv.mu.Lock()
			delete(c.srv.legs, legID)
			c.srv.mu.Unlock()
			if reason != EndTargetHungUp {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_ = leg.Bye(ctx)
				cancel()
			}
			leg.Close()
		}
	})
}

// toCaller starts an in-dialog request to the caller's Contact. Over TCP
// or TLS it goes back over the connection the INVITE came on (RFC 5923's
// connection reuse): a phone's Contact port often has no server, and over
// TLS none whose certificate could be checked.
func (c *Call) toCaller(method sip.RequestMethod) (*sip.Request, error) {
	invite := c.dialog.InviteRequest
	contact := invite.Contact()
	if contact == nil {
		return nil, errors.New("the caller gave no Contact")
	}
	req := sip.NewRequest(method, contact.Address)
	req.SetTransport(invite.Transport())
	if t := strings.ToUpper(invite.Transport()); t == "TCP" || t == "TLS" {
		req.SetDestination(invite.Source())
	}
	return req, nil
}

// bye sends BYE to the caller.
func (c *Call) bye(ctx context.Context) error {
	req, err := c.toCaller(sip.BYE)
	if err != nil {
		return err
	}
	return c.dialog.WriteBye(ctx, req)
}
