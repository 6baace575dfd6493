package streamhandler

import (
	"bytes"
	"io"
	"os"
	"testing"
)

func TestUseColor(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	for _, tt := range []struct {
		name     string
		terminal bool   // what isTerminal says about f
		noColor  string // NO_COLOR
		mode     ColorMode
		w        io.Writer
		want     bool
	}{
		{"auto, terminal", true, "", ColorAuto, f, true},
		{"auto, file", false, "", ColorAuto, f, false},
		{"auto, terminal, NO_COLOR", true, "1", ColorAuto, f, false},
		{"auto, buffer", true, "", ColorAuto, &bytes.Buffer{}, false},
		{"always, buffer", false, "", ColorAlways, &bytes.Buffer{}, true},
		{"always, NO_COLOR", false, "1", ColorAlways, f, true},
		{"never, terminal", true, "", ColorNever, f, false},
		{"unknown mode is auto", true, "", ColorMode(9), f, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			saved := isTerminal
			t.Cleanup(func() { isTerminal = saved })
			isTerminal = func(fd uintptr) bool { return tt.terminal && fd == f.Fd() }
			if got := useColor(tt.w, tt.mode); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The real check, on a file that is not a terminal.
func TestUseColorRegularFile(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if useColor(f, ColorAuto) {
		t.Error("got colours for a regular file, want none")
	}
}

func TestColorModeString(t *testing.T) {
	for mode, want := range map[ColorMode]string{
		ColorAuto: "auto", ColorAlways: "always", ColorNever: "never", ColorMode(-1): "ColorMode(-1)", ColorMode(3): "ColorMode(3)",
	} {
		if got := mode.String(); got != want {
			t.Errorf("%d: got %q, want %q", int(mode), got, want)
		}
	}
}
