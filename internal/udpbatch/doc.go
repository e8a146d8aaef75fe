// Package udpbatch moves UDP packets in batches: a Reader receives up to a
// batch of packets per recvmmsg, a Writer sends a batch queued one packet at
// a time with sendmmsg. Both reuse their buffers, so the packet path
// allocates nothing. IPv4 only.
//
// The shared RTP ports of the gateway (--rtp-mux) and the load generator's
// shared RTP sockets use them.
package udpbatch

// Batch is how many packets one recvmmsg or sendmmsg moves at most.
const Batch = 64
