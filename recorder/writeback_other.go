//go:build !linux

package recorder

// startWriteback leaves writeback to the system where sync_file_range is
// not available.
func startWriteback(fd int, off, n int64) {}
