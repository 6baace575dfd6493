package record

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

// jsonFloat is what encoding/json writes for f, the reference.
func jsonFloat(t testing.TB, f float64) string {
	t.Helper()
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkFloat64(t testing.TB, f float64) {
	t.Helper()
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return
	}
	if got, want := string(appendFloat64(nil, f)), jsonFloat(t, f); got != want {
		t.Fatalf("appendFloat64(%v [%#x]) = %s, encoding/json writes %s", f, math.Float64bits(f), got, want)
	}
}

// TestAppendFloat64 checks the fast path and the rest against
// encoding/json: n/10^k for every n from -30,000 to 30,000 and k from 0
// to 5 (four and five places take the slow path), their neighbours an ulp
// away, the edges of the fast path and of plain notation, and 600,000
// random floats of every magnitude.
func TestAppendFloat64(t *testing.T) {
	for _, scale := range []float64{1, 10, 100, 1000, 10000, 100000} {
		for n := -30000; n <= 30000; n++ {
			f := float64(n) / scale
			checkFloat64(t, f)
			checkFloat64(t, math.Nextafter(f, math.Inf(1)))
			checkFloat64(t, math.Nextafter(f, math.Inf(-1)))
		}
	}
	for _, f := range []float64{
		0, math.Copysign(0, -1), 1e-6, 1e-7, 0.001, 0.0001, 1e21, 1e20, 123456.789,
		fastFloatLimit, -fastFloatLimit, fastFloatLimit - 0.001, math.Nextafter(fastFloatLimit, 0),
		2147483.647, 2147483.648, 1 << 31, 1 << 53, 0.1, 0.2, 0.3, 0.1 + 0.2, 1.005, 2.675, 1e15 + 0.3,
		math.MaxFloat64, math.SmallestNonzeroFloat64, -math.MaxFloat64,
	} {
		checkFloat64(t, f)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		checkFloat64(t, math.Float64frombits(r.Uint64()))
		checkFloat64(t, r.Float64()*math.Pow(10, float64(r.IntN(12)-4)))
		checkFloat64(t, float64(r.IntN(2_000_000_000))/[]float64{1, 10, 100, 1000}[r.IntN(4)])
	}
}

// FuzzAppendFloat64 compares appendFloat64 with encoding/json for any bits.
func FuzzAppendFloat64(f *testing.F) {
	for _, v := range []float64{0.75, 3, -0.005, 1e-7, 2147483.647, 0.1 + 0.2} {
		f.Add(math.Float64bits(v))
	}
	f.Fuzz(func(t *testing.T, bits uint64) {
		checkFloat64(t, math.Float64frombits(bits))
	})
}

func BenchmarkAppendFloat64(b *testing.B) {
	buf := make([]byte, 0, 64)
	for _, f := range []float64{0.75, 1234.5, 3, 0.1 + 0.2} {
		b.Run(string(appendFloat64(nil, f)), func(b *testing.B) {
			for b.Loop() {
				buf = appendFloat64(buf[:0], f)
			}
		})
	}
}
