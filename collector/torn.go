package collector

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// openAppend opens the file at path for appending, created if missing.
// An existing file whose last line has no newline ends in a line cut
// short: the collector was killed in the middle of a write (a write
// interrupted by SIGKILL can be short). That line's events were never
// committed, since a commit waits for the flush, so they will be
// delivered and written again; openAppend truncates the file after its
// last newline, so that the file holds whole lines only.
func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := trimTornLine(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("trim the line cut short at its end: %w", err)
	}
	return f, nil
}

// trimTornLine truncates f after its last newline, if it does not end
// with one. It reads backwards, a chunk at a time.
func trimTornLine(f *os.File) error {
	info, err := f.Stat()
	if err != nil {
		return err
	}
	const chunk = 64 << 10
	buf := make([]byte, chunk)
	end := info.Size()
	for pos := end; pos > 0; {
		n := min(int64(chunk), pos)
		pos -= n
		if _, err := f.ReadAt(buf[:n], pos); err != nil && err != io.EOF {
			return err
		}
		i := bytes.LastIndexByte(buf[:n], '\n')
		if i < 0 {
			continue
		}
		if keep := pos + int64(i) + 1; keep < end {
			return f.Truncate(keep)
		}
		return nil // ends with a newline
	}
	if end > 0 { // one line, cut short
		return f.Truncate(0)
	}
	return nil
}
