package core_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine an Application or an embedded broker starts must be gone
// once they are closed.
func TestMain(m *testing.M) {
	if os.Getenv(eosChildEnv) != "" {
		runEOSChild() // the test binary as a child process; see transaction_test.go
	}
	if os.Getenv(spoolChildEnv) != "" {
		runSpoolChild() // see spool_crash_test.go
	}
	goleak.VerifyTestMain(m)
}
