package collector_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a Collector, its application or an embedded broker
// starts must be gone once they are closed. With envServeBroker set, the
// binary is BenchmarkCollectBrokerApart's broker instead.
func TestMain(m *testing.M) {
	if os.Getenv(envServeBroker) != "" {
		os.Exit(serveBroker())
	}
	goleak.VerifyTestMain(m)
}
