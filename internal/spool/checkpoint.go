package spool

// The checkpoint records, per segment, how many records from its start
// are acked, so that a clean restart does not resend them. It is a hint:
// a missing, stale or malformed checkpoint makes Open resend from the
// segments' starts (at-least-once), never fail.
//
// # CHECKPOINT file
//
//	size     field
//	4        magic "KSCK"
//	1        version = 1
//	uvarint  number of marks, then for each, little-endian:
//	  8        segment id
//	  8        records acked contiguously from the segment's start
//	  8        byte offset where the first unacked record starts
//	4        CRC-32C of every byte before it, uint32 LE
//
// Open applies a mark only when the segment exists and the offset is a
// record boundary at that record count, so a mark that outlived its
// segment cannot skip records of a new segment that reuses the id.
// The file is written to CHECKPOINT.tmp and renamed over CHECKPOINT.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

const (
	checkpointName  = "CHECKPOINT"
	checkpointMagic = "KSCK"
	checkpointV1    = 1
)

// ackMark is one segment's acked prefix.
type ackMark struct {
	id  uint64
	n   int   // records acked from the segment's start
	off int64 // offset of record n
}

// readCheckpoint returns dir's checkpoint marks by segment id, or nil if
// there is no readable, well-formed checkpoint.
func readCheckpoint(dir string) map[uint64]ackMark {
	b, err := os.ReadFile(filepath.Join(dir, checkpointName))
	if err != nil || len(b) < len(checkpointMagic)+1+1+4 {
		return nil
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum || !bytes.HasPrefix(body, []byte(checkpointMagic)) {
		return nil
	}
	d := decoder{b: body[len(checkpointMagic):]}
	if d.byte() != checkpointV1 {
		return nil
	}
	n := d.uvarint()
	if d.err || n > uint64(len(d.b))/24 || uint64(len(d.b)) != n*24 {
		return nil
	}
	marks := make(map[uint64]ackMark, n)
	for range n {
		m := ackMark{id: d.u64(), n: int(d.u64()), off: int64(d.u64())}
		if m.n < 0 || m.off < 0 {
			return nil
		}
		marks[m.id] = m
	}
	return marks
}

// encodeCheckpoint returns the CHECKPOINT file holding marks.
func encodeCheckpoint(marks []ackMark) []byte {
	b := append([]byte(checkpointMagic), checkpointV1)
	b = binary.AppendUvarint(b, uint64(len(marks)))
	for _, m := range marks {
		b = binary.LittleEndian.AppendUint64(b, m.id)
		b = binary.LittleEndian.AppendUint64(b, uint64(m.n))
		b = binary.LittleEndian.AppendUint64(b, uint64(m.off))
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// writeCheckpoint atomically replaces dir's checkpoint with marks,
// fsyncing the file and dir when sync is set.
func writeCheckpoint(dir string, marks []ackMark, sync bool) error {
	path := filepath.Join(dir, checkpointName)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("spool: write checkpoint: %w", err)
	}
	_, err = f.Write(encodeCheckpoint(marks))
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && sync {
		err = syncDir(dir)
	}
	if err != nil {
		return fmt.Errorf("spool: write checkpoint %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs directory dir, making file creations, renames and
// removals in it durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
