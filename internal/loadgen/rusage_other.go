//go:build !unix

package loadgen

import "time"

// cpuTime is not measured here: getrusage is Unix's.
func cpuTime() time.Duration { return 0 }

// maxRSS is not measured here: -1.
func maxRSS() int64 { return -1 }
