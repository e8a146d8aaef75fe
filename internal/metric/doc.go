// Package metric holds the counters botline keeps for /metrics without
// any lock or allocation: a fixed-bucket histogram of durations.
package metric
