package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

const versionSynopsis = ""

// runVersion prints "kafkaesk VERSION (GOVERSION, REVISION[-dirty])" from
// the build information the Go toolchain embeds in the binary.
func runVersion(ctx context.Context, std *stdio, args []string) error {
	fs := newFlagSet("version", versionSynopsis, std)
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return usagef("unexpected argument %q: version takes none", rest[0])
	}
	info, _ := debug.ReadBuildInfo()
	fmt.Fprintln(std.out, versionString(info))
	return nil
}

// versionString formats the build information; info may be nil (a binary
// built without module support).
func versionString(info *debug.BuildInfo) string {
	version, goVersion := "(devel)", runtime.Version()
	var revision, modified string
	if info != nil {
		if v := info.Main.Version; v != "" {
			version = v
		}
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
	}
	details := goVersion
	if revision != "" {
		details += ", " + revision
		if modified == "true" {
			details += "-dirty"
		}
	}
	return "kafkaesk " + version + " (" + details + ")"
}
