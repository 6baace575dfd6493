package spool

import "errors"

// Exported errors. Each is returned wrapped, with the spool directory or
// segment path it concerns; test for them with [errors.Is].
var (
	// ErrFull is returned by [Spool.Append] and [Spool.Prepend] when writing
	// the next entry would take the segment files past [Options.MaxBytes].
	// The entries before it are written; Ack frees space.
	ErrFull = errors.New("spool: full")

	// ErrLocked is returned by [Open] when another Spool, in this process
	// or another, holds the directory's LOCK file.
	ErrLocked = errors.New("spool: directory in use by another process")

	// ErrClosed is returned by every method called after [Spool.Close]
	// (except Close itself, which returns nil).
	ErrClosed = errors.New("spool: closed")
)

// Internal errors.
var (
	// errCorrupt reports a record whose frame or payload does not check
	// out: a torn write, a flipped bit, or a file that is not a segment.
	errCorrupt = errors.New("corrupt record")

	// errTooLarge reports an entry whose payload does not fit a frame.
	errTooLarge = errors.New("entry larger than a record can hold")
)
