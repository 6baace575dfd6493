package record

import (
	"math"
	"strconv"
)

// appendFloat64 writes f as encoding/json does: the shortest decimal that
// reads back as f, in plain notation from 1e-6 to 1e21 and in exponent
// notation (e-7, not e-07) outside. NaN and ±Inf are the caller's to
// refuse.
//
// Most floats in logs are short decimals (0.75, 12.5, 3): those take a
// fast path of integer arithmetic instead of strconv's shortest-decimal
// search. For k = 0 to 3 it takes m, the integer nearest f·10^k, and
// checks that m/10^k (both exact, so one rounding) reads back as f; the
// first k that does gives strconv's digits: m, its k last digits after
// the point. A decimal of fewer places that read back as f would have
// been that k's m (below 2^31, f·10^k is within a millionth of it), and
// no other decimal of k places is within half an ulp of f at these
// magnitudes. TestAppendFloat64 and FuzzAppendFloat64 check it against
// encoding/json.
func appendFloat64(dst []byte, f float64) []byte {
	if f != 0 && math.Abs(f) < fastFloatLimit {
		for k, p := range pow10 {
			if m := math.Round(f * p); m/p == f {
				return appendDecimal(dst, int64(m), k)
			}
		}
	}
	return appendShortest(dst, f, 64)
}

// appendShortest writes f, a float of bits 32 or 64, as encoding/json
// does, with strconv's shortest decimal that reads back as that float.
func appendShortest(dst []byte, f float64, bits int) []byte {
	// As encoding/json decides, a float32 compared as a float32.
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (bits == 64 && (abs < 1e-6 || abs >= 1e21) || bits == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21)) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, bits)
	if format == 'e' {
		dst = trimExponent(dst)
	}
	return dst
}

// trimExponent turns a two-digit negative exponent of one significant
// digit (e-07) into encoding/json's e-7.
func trimExponent(b []byte) []byte {
	n := len(b)
	if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}

// pow10 are the scales of the fast path: up to three decimal places.
var pow10 = [...]float64{1, 10, 100, 1000}

// fastFloatLimit keeps f·10^k below 2^31 on the fast path, where the
// product is within a millionth of the integer it stands for.
const fastFloatLimit = (1 << 31) / 1000

// appendDecimal writes m/10^k with exactly k decimal places (none when k
// is 0).
func appendDecimal(dst []byte, m int64, k int) []byte {
	if m < 0 {
		dst = append(dst, '-')
		m = -m
	}
	if k == 0 {
		return strconv.AppendInt(dst, m, 10)
	}
	scale := int64(1)
	for range k {
		scale *= 10
	}
	dst = strconv.AppendInt(dst, m/scale, 10)
	dst = append(dst, '.')
	frac := m % scale
	for scale /= 10; scale > frac && scale > 1; scale /= 10 {
		dst = append(dst, '0')
	}
	return strconv.AppendInt(dst, frac, 10)
}
