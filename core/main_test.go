package core_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine an Application or an embedded broker starts must be gone
// once they are closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
