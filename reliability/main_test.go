package reliability_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine of the tests' applications, handlers and clusters is
// gone at the end.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
