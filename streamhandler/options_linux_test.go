package streamhandler

import (
	"os"
	"testing"
)

// The master side of a pseudo-terminal is a terminal, so ColorAuto
// colours it: the real isatty check, without a stub.
func TestUseColorPseudoTerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test with: %v", err)
	}
	defer f.Close()
	if !useColor(f, ColorAuto) {
		t.Error("got no colours on a terminal, want colours")
	}
	t.Setenv("NO_COLOR", "1")
	if useColor(f, ColorAuto) {
		t.Error("got colours on a terminal with NO_COLOR set, want none")
	}
}
