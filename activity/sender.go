package activity

import "context"

// Sender sends an activity into its conversation (a.Conversation names it)
// and returns the id the channel assigned: the Connector API as a bot sees
// it. The gateway implements it in process; the sample bots' HTTPConnector
// implements it over HTTP.
type Sender interface {
	Send(ctx context.Context, a *Activity) (string, error)
}
