package record

import (
	"log/slog"
	"strconv"
)

// Python's logging levels, which the log event carries in "level" and
// names in "severity".
const (
	LevelDebug    = 10
	LevelInfo     = 20
	LevelWarning  = 30
	LevelError    = 40
	LevelCritical = 50
)

// LevelCriticalSlog is the slog level that maps to Python's CRITICAL:
// four above slog.LevelError, as slog's levels are spaced.
const LevelCriticalSlog = slog.LevelError + 4

// PythonLevel maps a slog level onto Python's numbers: Debug 10, Info 20,
// Warn 30, Error 40, and LevelCriticalSlog 50. slog's levels are four
// apart and Python's ten, so levels in between map in proportion (slog's
// Info+2 is 25), as Python custom levels sit between the named ones.
// The result is never below 0 (Python's NOTSET).
func PythonLevel(l slog.Level) int {
	n := LevelInfo + int(l)*10/4
	return max(n, 0)
}

// SlogLevel maps a Python level back onto slog's scale; it inverts
// PythonLevel for every level PythonLevel returns.
func SlogLevel(python int) slog.Level {
	d := python - LevelInfo
	// Round towards the nearest slog level, away from zero on halves.
	if d >= 0 {
		return slog.Level((d*4 + 5) / 10)
	}
	return slog.Level(-((-d*4 + 5) / 10))
}

// Severity names a Python level as logging.getLevelName does: DEBUG,
// INFO, WARNING, ERROR, CRITICAL, and "Level N" in between.
func Severity(python int) string {
	switch python {
	case LevelDebug:
		return "DEBUG"
	case LevelInfo:
		return "INFO"
	case LevelWarning:
		return "WARNING"
	case LevelError:
		return "ERROR"
	case LevelCritical:
		return "CRITICAL"
	case 0:
		return "NOTSET"
	}
	return "Level " + strconv.Itoa(python)
}
