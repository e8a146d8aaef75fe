package recorder

import "golang.org/x/sys/unix"

// startWriteback starts writing a just-written range of a recording back
// to the disk, without waiting for it (sync_file_range). Left to the
// kernel, dirty pages are written back tens of seconds late and all at
// once: at a thousand calls that is hundreds of megabytes in a burst,
// and writes to every recording stall meanwhile. Started at once, the
// disk sees a steady stream of each call's 16 KB/s.
func startWriteback(fd int, off, n int64) {
	_ = unix.SyncFileRange(fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
}
