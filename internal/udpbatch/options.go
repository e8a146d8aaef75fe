package udpbatch

// Option changes how a Reader or Writer moves packets.
type Option func(*options)

type options struct {
	offload bool // UDP GSO on send, UDP GRO on receive (Linux)
}

// newOptions applies opts to the defaults: offloads on.
func newOptions(opts []Option) options {
	o := options{offload: true}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithoutOffload moves one packet per message both ways: a Writer sends no
// UDP GSO message and a Reader does not ask for UDP GRO. For measuring
// what the offloads save, and for peers on a path that mishandles them.
func WithoutOffload() Option { return func(o *options) { o.offload = false } }
