//go:build !linux

package benchmarks_test

import "time"

// threadCPU cannot tell a thread's CPU time here: BenchmarkPerCall then
// reports no cpu-ns/op.
func threadCPU() (time.Duration, bool) { return 0, false }
