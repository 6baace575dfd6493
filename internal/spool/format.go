package spool

// On-disk format. This is a contract between processes and between
// versions of this package: a spool written by one version is read by the
// next, so change it only by adding a payload version.
//
// # Directory
//
//	LOCK                        flock(2)ed by the open Spool; empty
//	CHECKPOINT                  acked-prefix progress, see checkpoint.go
//	CHECKPOINT.tmp              a checkpoint being written (renamed over CHECKPOINT)
//	<20-digit decimal id>.seg   a segment, e.g. 04611686018427387904.seg
//
// Segments are read in increasing id order. A new spool's first segment
// has id 1<<62; Append makes each new segment the last id + 1, Prepend
// the first id - 1. Other files are ignored.
//
// # Segment
//
// A segment is a sequence of records and nothing else (no file header).
// Each record is a frame:
//
//	offset  size  field
//	0       4     payload length n, uint32 little-endian, 1 <= n <= 1<<30
//	4       4     CRC-32C (Castagnoli) of the n payload bytes, uint32 little-endian
//	8       n     payload
//
// A record that does not check out (length out of range or past the end of
// the file, CRC mismatch, or a payload that does not decode) ends the
// valid part of its segment: Open truncates the file there.
//
// # Payload, version 1
//
//	size     field
//	1        version = 1
//	1        flags: bit 0 set when Time is non-zero; other bits 0
//	8        appended-at: unix nanoseconds when Append or Prepend wrote it, int64 LE
//	8 + 4    Time as unix seconds int64 LE + nanoseconds uint32 LE; only if flags bit 0
//	uvarint  len(Topic), then Topic's bytes
//	uvarint  0 for a nil Key, else len(Key)+1, then Key's bytes
//	uvarint  0 for a nil Value, else len(Value)+1, then Value's bytes
//	uvarint  number of headers, then for each:
//	  uvarint  len(Key), then Key's bytes
//	  uvarint  0 for a nil Value, else len(Value)+1, then Value's bytes
//
// The payload ends exactly after the last header; trailing bytes make it
// corrupt. Times come back in the local time zone, without a monotonic
// clock reading.

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"time"
)

// Entry is one spooled message.
type Entry struct {
	Topic string
	// Key is nil or not; nil and empty come back as they went in.
	Key []byte
	// Value is nil or not; nil and empty come back as they went in.
	Value   []byte
	Headers []Header
	// Time is the message's timestamp. Zero comes back as zero; other
	// times come back equal (time.Time.Equal) in the local time zone.
	Time time.Time
}

// Header is a message header. A nil Value comes back nil.
type Header struct {
	Key   string
	Value []byte
}

const (
	frameHeaderLen = 8
	maxPayloadLen  = 1 << 30
	payloadV1      = 1
	flagTime       = 1 << 0

	// firstID is the id of a new spool's first segment, leaving room
	// below for Prepend.
	firstID = uint64(1) << 62

	segSuffix  = ".seg"
	segNameLen = 20 + len(segSuffix)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segName returns the file name of segment id.
func segName(id uint64) string {
	return fmt.Sprintf("%020d%s", id, segSuffix)
}

// parseSegName returns the id of a segment file name, and false for any
// other name.
func parseSegName(name string) (uint64, bool) {
	if len(name) != segNameLen || name[20:] != segSuffix {
		return 0, false
	}
	for _, c := range name[:20] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseUint(name[:20], 10, 64)
	return id, err == nil
}

// EncodedSize is the number of bytes e takes in a segment file, frame
// included: what Append adds to the spool's size for it.
func EncodedSize(e *Entry) int64 {
	return int64(frameHeaderLen + payloadLen(e))
}

// payloadLen is the length of e's version 1 payload.
func payloadLen(e *Entry) int {
	n := 2 + 8
	if !e.Time.IsZero() {
		n += 12
	}
	n += strLen(len(e.Topic)) + optLen(e.Key) + optLen(e.Value)
	n += uvarintLen(uint64(len(e.Headers)))
	for _, h := range e.Headers {
		n += strLen(len(h.Key)) + optLen(h.Value)
	}
	return n
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

func strLen(n int) int { return uvarintLen(uint64(n)) + n }

func optLen(b []byte) int {
	if b == nil {
		return 1
	}
	return uvarintLen(uint64(len(b))+1) + len(b)
}

// appendRecord appends e's frame to buf, with appended-at at (unix nanos).
func appendRecord(buf []byte, e *Entry, at int64) ([]byte, error) {
	n := payloadLen(e)
	if n > maxPayloadLen {
		return buf, fmt.Errorf("%w: payload of %d bytes, limit %d", errTooLarge, n, maxPayloadLen)
	}
	start := len(buf)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(n))
	buf = append(buf, 0, 0, 0, 0) // CRC, below
	var flags byte
	if !e.Time.IsZero() {
		flags |= flagTime
	}
	buf = append(buf, payloadV1, flags)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(at))
	if flags&flagTime != 0 {
		buf = binary.LittleEndian.AppendUint64(buf, uint64(e.Time.Unix()))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(e.Time.Nanosecond()))
	}
	buf = binary.AppendUvarint(buf, uint64(len(e.Topic)))
	buf = append(buf, e.Topic...)
	buf = appendOpt(buf, e.Key)
	buf = appendOpt(buf, e.Value)
	buf = binary.AppendUvarint(buf, uint64(len(e.Headers)))
	for _, h := range e.Headers {
		buf = binary.AppendUvarint(buf, uint64(len(h.Key)))
		buf = append(buf, h.Key...)
		buf = appendOpt(buf, h.Value)
	}
	p := buf[start+frameHeaderLen:]
	binary.LittleEndian.PutUint32(buf[start+4:], crc32.Checksum(p, castagnoli))
	return buf, nil
}

func appendOpt(buf, b []byte) []byte {
	if b == nil {
		return append(buf, 0)
	}
	buf = binary.AppendUvarint(buf, uint64(len(b))+1)
	return append(buf, b...)
}

// frame checks the record frame at the start of b. It returns the payload
// and the frame's total length; ok is false when b holds less than a whole
// frame (need is then the frame's total length, or 0 if even the header is
// missing). A frame whose length or CRC is wrong returns errCorrupt.
func frame(b []byte) (payload []byte, need int, ok bool, err error) {
	if len(b) < frameHeaderLen {
		return nil, 0, false, nil
	}
	n := binary.LittleEndian.Uint32(b)
	if n == 0 || n > maxPayloadLen {
		return nil, 0, false, fmt.Errorf("%w: payload length %d", errCorrupt, n)
	}
	need = frameHeaderLen + int(n)
	if len(b) < need {
		return nil, need, false, nil
	}
	payload = b[frameHeaderLen:need]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, need, false, fmt.Errorf("%w: CRC mismatch", errCorrupt)
	}
	return payload, need, true, nil
}

// payloadInfo is what decode learns of a payload without building an Entry.
type payloadInfo struct {
	at      int64 // appended-at, unix nanos
	kv      int   // len(Key) + len(Value)
	data    int   // bytes decode copies: keys, values, header values
	headers int   // number of headers
}

// decode checks that p is a well-formed payload and returns what it
// holds. If e is non-nil it also fills e, copying byte slices out of
// *arena (which must have room for info.data more bytes, see a first call
// with e == nil), taking headers from *hdrs the same way, and interning
// strings in names.
func decode(p []byte, e *Entry, arena *[]byte, hdrs *[]Header, names map[string]string) (payloadInfo, error) {
	d := decoder{b: p}
	var info payloadInfo
	if v := d.byte(); v != payloadV1 {
		return info, fmt.Errorf("%w: unknown payload version %d", errCorrupt, v)
	}
	flags := d.byte()
	if flags&^flagTime != 0 {
		return info, fmt.Errorf("%w: unknown flags %#x", errCorrupt, flags)
	}
	info.at = int64(d.u64())
	var sec int64
	var nsec uint32
	if flags&flagTime != 0 {
		sec, nsec = int64(d.u64()), d.u32()
	}
	topic := d.str()
	key, value := d.opt(), d.opt()
	nh := d.uvarint()
	if d.err || nh > uint64(len(d.b)) { // each header takes >= 2 bytes
		return info, fmt.Errorf("%w: truncated payload", errCorrupt)
	}
	info.kv = len(key) + len(value)
	info.data = info.kv
	info.headers = int(nh)
	if e != nil {
		*e = Entry{Topic: intern(names, topic), Key: carve(arena, key), Value: carve(arena, value)}
		if flags&flagTime != 0 {
			e.Time = time.Unix(sec, int64(nsec))
		}
		if nh > 0 {
			e.Headers = (*hdrs)[:nh:nh]
			*hdrs = (*hdrs)[nh:]
		}
	}
	for i := range int(nh) {
		k, v := d.str(), d.opt()
		info.data += len(v)
		if e != nil && !d.err {
			e.Headers[i] = Header{Key: intern(names, k), Value: carve(arena, v)}
		}
	}
	if d.err || len(d.b) != 0 || nsec >= 1e9 {
		return info, fmt.Errorf("%w: malformed payload", errCorrupt)
	}
	return info, nil
}

// carve copies b to the front of *arena and returns the copy, keeping nil
// nil and empty empty (not nil).
func carve(arena *[]byte, b []byte) []byte {
	if b == nil {
		return nil
	}
	if len(b) == 0 {
		return []byte{} // no allocation; *arena may be nil
	}
	n := copy(*arena, b)
	c := (*arena)[:n:n]
	*arena = (*arena)[n:]
	return c
}

// intern returns b as a string, shared with earlier calls that had the
// same bytes: topics and header keys repeat.
func intern(names map[string]string, b []byte) string {
	if s, ok := names[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(names) < 4096 {
		names[s] = s
	}
	return s
}

// decoder reads a payload; the first short read sets err and makes every
// later read return zero values.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) take(n uint64) []byte {
	if d.err || n > uint64(len(d.b)) {
		d.err = true
		return nil
	}
	s := d.b[:n:n]
	d.b = d.b[n:]
	return s
}

func (d *decoder) byte() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) uvarint() uint64 {
	if d.err {
		return 0
	}
	x, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = true
		return 0
	}
	d.b = d.b[n:]
	return x
}

// str reads a length-prefixed byte string (never nil unless short).
func (d *decoder) str() []byte {
	n := d.uvarint()
	return d.take(n)
}

// opt reads a nil-able byte string: 0 is nil, n+1 is n bytes.
func (d *decoder) opt() []byte {
	n := d.uvarint()
	if d.err || n == 0 {
		return nil
	}
	return d.take(n - 1)
}
