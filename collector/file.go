package collector

import (
	"fmt"

	"github.com/DeRuina/timberjack"
)

// FileOptions configures the file outputs. The zero value is valid: files
// of up to 100 MiB, every rotated file kept uncompressed, no fsync.
type FileOptions struct {
	// MaxSizeMB is the size at which a rotating file is rotated, in MiB.
	// Default: 100.
	MaxSizeMB int
	// MaxBackups is how many rotated files are kept. Default: 0, all.
	MaxBackups int
	// MaxAgeDays removes rotated files older than this. Default: 0, never.
	MaxAgeDays int
	// Compress gzips rotated files. Default: false.
	Compress bool
	// Sync fsyncs the file on every Flush, that is before each commit,
	// so that a committed event survives a power cut, not only a crash of
	// the collector. Default: false (the page cache is trusted).
	Sync bool
	// BufferSize is how many bytes are buffered before a write.
	// Default: 256 KiB.
	BufferSize int
}

func (o *FileOptions) withDefaults() FileOptions {
	var c FileOptions
	if o != nil {
		c = *o
	}
	if c.MaxSizeMB <= 0 {
		c.MaxSizeMB = 100
	}
	if c.BufferSize <= 0 {
		c.BufferSize = defaultBufferSize
	}
	return c
}

// OpenRotating returns an output writing JSON lines (as JSONLines) to the
// file at path, rotated when it would pass opts.MaxSizeMB: the full file
// is renamed with a timestamp (name-2006-01-02T15-04-05.000-size.ext) and
// a new one started. Rotation is timberjack's, a maintained fork of
// lumberjack whose Close stops its goroutines and that can fsync. A last
// line cut short by a crash is removed first, as by CreateJSONLines.
func OpenRotating(path string, opts *FileOptions) (*JSONLines, error) {
	o := opts.withDefaults()
	name := "file:" + path
	// Open now, so that a path that cannot be written fails here.
	f, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", name, err)
	}
	info, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("output %s: %w", name, err)
	}
	w := &rotating{
		max:  int64(o.MaxSizeMB) << 20,
		size: info.Size(),
		sync: o.Sync,
		lj: &timberjack.Logger{
			Filename:   path,
			MaxSize:    o.MaxSizeMB,
			MaxBackups: o.MaxBackups,
			MaxAge:     o.MaxAgeDays,
			Compress:   o.Compress,
		},
	}
	out := &JSONLines{name: name, lines: newLineBuffer(w, o.BufferSize), closer: w.lj}
	if o.Sync {
		out.lines.sync = w.fsync
	}
	return out, nil
}

// rotating writes to a timberjack.Logger and rotates ahead of it, by the
// same rule, so that a file is fsynced before it is rotated away:
// timberjack closes a rotated file without syncing it.
type rotating struct {
	lj   *timberjack.Logger
	max  int64
	size int64
	sync bool
}

func (r *rotating) Write(p []byte) (int, error) {
	if int64(len(p)) > r.max {
		return 0, fmt.Errorf("a write of %d bytes is larger than the rotation size of %d bytes", len(p), r.max)
	}
	if r.size+int64(len(p)) > r.max {
		if r.sync {
			if err := r.fsync(); err != nil {
				return 0, err
			}
		}
		if err := r.lj.Rotate(); err != nil {
			return 0, fmt.Errorf("rotate: %w", err)
		}
		r.size = 0
	}
	n, err := r.lj.Write(p)
	r.size += int64(n)
	return n, err
}

// fsync syncs the current file.
func (r *rotating) fsync() error { return r.lj.Sync() }
