package spool

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Every entry decodes as it was encoded, nil and empty slices kept
// apart, and EncodedSize is exactly the bytes written.
func TestRecordRoundTrip(t *testing.T) {
	es := testEntries(0, 60)
	es = append(es,
		Entry{},
		Entry{Topic: "t", Time: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)},                 // non-zero, before 1678
		Entry{Topic: "t", Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)}, // after 2262
		Entry{Topic: "t", Time: time.Unix(-1, 5)},
		Entry{Topic: string(make([]byte, 300)), Key: make([]byte, 200), Value: make([]byte, 1<<16)},
	)
	for i, e := range es {
		buf, err := appendRecord([]byte("junk"), &e, int64(i)*7)
		require.NoError(t, err)
		rec := buf[4:]
		require.EqualValues(t, EncodedSize(&e), len(rec), "entry %d", i)
		p, need, ok, err := frame(rec)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, len(rec), need)
		info, err := decode(p, nil, nil, nil, nil)
		require.NoError(t, err)
		require.EqualValues(t, i*7, info.at)
		require.Equal(t, len(e.Key)+len(e.Value), info.kv)
		require.Equal(t, len(e.Headers), info.headers)
		arena, hdrs := make([]byte, info.data), make([]Header, info.headers)
		var got Entry
		_, err = decode(p, &got, &arena, &hdrs, map[string]string{})
		require.NoError(t, err)
		requireEntry(t, e, got, "entry %d", i)
		require.Empty(t, arena, "arena fully used")
		require.Empty(t, hdrs)
	}
}

// A frame that is short says how much it needs; one with a bad length,
// CRC or payload is corrupt.
func TestFrameCorrupt(t *testing.T) {
	e := testEntries(2, 1)[0]
	rec, err := appendRecord(nil, &e, 1)
	require.NoError(t, err)

	_, need, ok, err := frame(rec[:5])
	require.NoError(t, err)
	require.False(t, ok)
	require.Zero(t, need)
	_, need, ok, err = frame(rec[:len(rec)-1])
	require.NoError(t, err)
	require.False(t, ok)
	require.Equal(t, len(rec), need)

	for name, mutate := range map[string]func(b []byte){
		"zero length": func(b []byte) { binary.LittleEndian.PutUint32(b, 0) },
		"huge length": func(b []byte) { binary.LittleEndian.PutUint32(b, math.MaxUint32) },
		"crc":         func(b []byte) { b[5] ^= 1 },
		"payload bit": func(b []byte) { b[len(b)-1] ^= 0x10 },
	} {
		b := append([]byte(nil), rec...)
		mutate(b)
		_, _, ok, err := frame(b)
		require.False(t, ok, name)
		require.True(t, errors.Is(err, errCorrupt), "%s: %v", name, err)
	}

	// A payload with a good CRC but a bad structure.
	for name, p := range map[string][]byte{
		"version":  {9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"flags":    {1, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"short":    {1, 0, 0, 0},
		"trailing": append(rec[frameHeaderLen:len(rec):len(rec)], 0),
	} {
		_, err := decode(p, nil, nil, nil, nil)
		require.True(t, errors.Is(err, errCorrupt), "%s: %v", name, err)
	}
}

func TestSegName(t *testing.T) {
	for _, id := range []uint64{0, 1, firstID - 1, firstID, math.MaxUint64} {
		got, ok := parseSegName(segName(id))
		require.True(t, ok)
		require.Equal(t, id, got)
	}
	require.Equal(t, "04611686018427387904.seg", segName(firstID))
	for _, name := range []string{"LOCK", "CHECKPOINT", "0461168601842738790x.seg", "4611686018427387904.seg", "04611686018427387904.se"} {
		_, ok := parseSegName(name)
		require.False(t, ok, name)
	}
}

// A checkpoint reads back as written; a damaged one reads as none.
func TestCheckpointFile(t *testing.T) {
	dir := t.TempDir()
	require.Nil(t, readCheckpoint(dir), "missing")
	marks := []ackMark{{id: firstID, n: 3, off: 300}, {id: firstID + 5, n: 1, off: 17}}
	require.NoError(t, writeCheckpoint(dir, marks, true))
	got := readCheckpoint(dir)
	require.Equal(t, map[uint64]ackMark{firstID: marks[0], firstID + 5: marks[1]}, got)

	b := encodeCheckpoint(marks)
	for i := range b {
		bad := append([]byte(nil), b...)
		bad[i] ^= 0x04
		require.NoError(t, writeFile(dir+"/"+checkpointName, bad))
		require.Nil(t, readCheckpoint(dir), "byte %d flipped", i)
	}
	require.NoError(t, writeFile(dir+"/"+checkpointName, b[:len(b)-3]))
	require.Nil(t, readCheckpoint(dir), "truncated")
}
