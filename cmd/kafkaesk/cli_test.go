package main

import (
	"context"
	"errors"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// parseArgs takes flags and positional arguments in any order; "--" ends
// the flags, and what follows it is positional even if it looks like one.
func TestParseArgs(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		positional []string
		n          int
		v          bool
		names      []string
	}{
		{args: nil},
		{args: []string{"a"}, positional: []string{"a"}},
		{args: []string{"a", "--n", "3", "b"}, positional: []string{"a", "b"}, n: 3},
		{args: []string{"--v", "a", "-n=4", "b", "--name", "x", "c", "--name=y"}, positional: []string{"a", "b", "c"}, n: 4, v: true, names: []string{"x", "y"}},
		{args: []string{"--", "a"}, positional: []string{"a"}},
		{args: []string{"--n", "6", "--", "a", "b"}, positional: []string{"a", "b"}, n: 6},
		{args: []string{"a", "--v", "--", "b"}, positional: []string{"a", "b"}, v: true},
		{args: []string{"a", "-", "b"}, positional: []string{"a", "-", "b"}},
		{args: []string{"a", "--", "--n", "5", "-v"}, positional: []string{"a", "--n", "5", "-v"}},
		{args: []string{"--n", "6", "--", "--"}, positional: []string{"--"}, n: 6},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			std := &stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard}
			fs := newFlagSet("test", "", std)
			n := fs.Int("n", 0, "")
			v := fs.Bool("v", false, "")
			var names stringList
			fs.Var(&names, "name", "")
			got, err := parseArgs(fs, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.positional) || *n != tt.n || *v != tt.v || !slices.Equal(names, tt.names) {
				t.Errorf("positional %q, n %d, v %v, names %q; want %q, %d, %v, %q", got, *n, *v, names, tt.positional, tt.n, tt.v, tt.names)
			}
		})
	}
}

// The flag package's errors name flags with one dash; parseArgs spells
// them with two, as the usage does, and makes them usage errors.
func TestParseArgsErrorsUseTwoDashes(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--nope"}, "flag provided but not defined: --nope"},
		{[]string{"-nope"}, "flag provided but not defined: --nope"},
		{[]string{"a", "--x"}, "flag provided but not defined: --x"},
		{[]string{"--n"}, "flag needs an argument: --n"},
		{[]string{"--n", "abc"}, `invalid value "abc" for flag --n: parse error`},
		{[]string{"--v=maybe"}, `invalid boolean value "maybe" for --v: parse error`},
		{[]string{"---n", "1"}, "bad flag syntax: ---n"},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			std := &stdio{in: strings.NewReader(""), out: io.Discard, err: io.Discard}
			fs := newFlagSet("test", "", std)
			fs.Int("n", 0, "")
			fs.Bool("v", false, "")
			_, err := parseArgs(fs, tt.args)
			var uerr *usageError
			if !errors.As(err, &uerr) || err.Error() != tt.want {
				t.Errorf("error %#v, want the usage error %q", err, tt.want)
			}
		})
	}
}

// --help and -h are not errors: errHelp, which run turns into exit code 0.
func TestParseArgsHelp(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "-help"} {
		var usage strings.Builder
		fs := newFlagSet("test", "[--n N]", &stdio{out: io.Discard, err: &usage})
		fs.Int("n", 0, "a number")
		if _, err := parseArgs(fs, []string{"x", arg}); !errors.Is(err, errHelp) {
			t.Errorf("%s: error %v, want errHelp", arg, err)
		}
		if !strings.Contains(usage.String(), "usage: kafkaesk test [--n N]") || !strings.Contains(usage.String(), "  --n int\n") {
			t.Errorf("%s: usage:\n%s", arg, usage.String())
		}
	}
}

// A malformed KAFKAESK_* variable is a usage error naming the variable,
// for every command that takes the Kafka flags, before anything starts.
// (t.Setenv: not in parallel.)
func TestMalformedEnvIsUsageError(t *testing.T) {
	t.Setenv(core.EnvReplicationFactor, "three")
	for _, args := range [][]string{
		{"publish", "--kafka-servers", "127.0.0.1:1", "--stream", "s", "--data", "{}"},
		{"tail", "--kafka-servers", "127.0.0.1:1", "logs.*"},
		{"collect", "--kafka-servers", "127.0.0.1:1", "--pattern", "logs.*", "--group", "g", "--output", "jsonl", "--http", ""},
	} {
		t.Run(args[0], func(t *testing.T) {
			_, stderr, code := runMain(context.Background(), "", args...)
			if code != 2 || !strings.Contains(stderr, core.EnvReplicationFactor) || !strings.Contains(stderr, `"three"`) {
				t.Errorf("exit code %d, stderr:\n%s\nwant 2 naming %s", code, stderr, core.EnvReplicationFactor)
			}
		})
	}
}

// A bad flag exits with code 2, naming the flag with two dashes, from the
// built binary.
func TestBinaryBadFlag(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"publish", "--stream", "s", "--bogus-flag"},
		{"broker", "--bogus-flag"},
		{"version", "--bogus-flag"},
	} {
		stdout, stderr, code := runKafkaesk(t, "", args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "flag provided but not defined: --bogus-flag") ||
			!strings.Contains(stderr, "Run 'kafkaesk "+args[0]+" --help' for usage.") {
			t.Errorf("kafkaesk %s: exit code %d, stdout %q, stderr:\n%s", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// An unknown subcommand exits with code 2 and lists the commands.
func TestBinaryUnknownCommand(t *testing.T) {
	t.Parallel()
	_, stderr, code := runKafkaesk(t, "", "frobnicate", "--x")
	if code != 2 || !strings.Contains(stderr, `kafkaesk: unknown command "frobnicate"`) || !strings.Contains(stderr, "  publish ") {
		t.Errorf("exit code %d, stderr:\n%s", code, stderr)
	}
	// No command at all is a usage error too; "help" is not.
	if _, _, code := runKafkaesk(t, ""); code != 2 {
		t.Errorf("no command: exit code %d, want 2", code)
	}
	if _, stderr, code := runKafkaesk(t, "", "help"); code != 0 || !strings.Contains(stderr, "  broker ") {
		t.Errorf("help: exit code %d, stderr:\n%s", code, stderr)
	}
}

// --help on each command exits 0 and shows its flags with two dashes.
func TestBinaryHelp(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"broker", "--help"}, []string{"usage: kafkaesk broker " + brokerSynopsis, "  --port int", "  --data-dir string", "  --partitions int"}},
		{[]string{"publish", "--help"}, []string{"usage: kafkaesk publish " + publishSynopsis, "  --kafka-servers ", "  --stream string", "  --schema string", "  --schema-file string", "  --key string", "  --data string"}},
		{[]string{"publish", "-h"}, []string{"  --kafka-servers "}},
		{[]string{"help", "publish"}, []string{"  --kafka-servers "}},
		{[]string{"version", "--help"}, []string{"usage: kafkaesk version"}},
	} {
		stdout, stderr, code := runKafkaesk(t, "", tt.args...)
		if code != 0 || stdout != "" {
			t.Errorf("kafkaesk %s: exit code %d, stdout %q; want 0 and the usage on stderr", strings.Join(tt.args, " "), code, stdout)
		}
		for _, w := range tt.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("kafkaesk %s: stderr:\n%s\nwant %q", strings.Join(tt.args, " "), stderr, w)
			}
		}
	}
}

// "kafkaesk version" prints one line on stdout.
func TestBinaryVersion(t *testing.T) {
	t.Parallel()
	stdout, stderr, code := runKafkaesk(t, "", "version")
	if code != 0 || !strings.HasPrefix(stdout, "kafkaesk ") || strings.Count(stdout, "\n") != 1 || stderr != "" {
		t.Errorf("exit code %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if _, stderr, code := runKafkaesk(t, "", "version", "extra"); code != 2 || !strings.Contains(stderr, `unexpected argument "extra"`) {
		t.Errorf("version extra: exit code %d, stderr:\n%s", code, stderr)
	}
}

// versionString reads the main module's version and the VCS settings.
func TestVersionString(t *testing.T) {
	settings := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	for _, tt := range []struct {
		info *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v1.2.3"}}, "kafkaesk v1.2.3 (go1.26.1)"},
		{&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "(devel)"},
			Settings: settings("vcs", "git", "vcs.revision", "5cfe031", "vcs.modified", "false")}, "kafkaesk (devel) (go1.26.1, 5cfe031)"},
		{&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{},
			Settings: settings("vcs.revision", "5cfe031", "vcs.modified", "true")}, "kafkaesk (devel) (go1.26.1, 5cfe031-dirty)"},
		{&debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Version: "v0.1.0"},
			Settings: settings("vcs.modified", "true")}, "kafkaesk v0.1.0 (go1.26.1)"},
	} {
		if got := versionString(tt.info); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	if got := versionString(nil); !strings.HasPrefix(got, "kafkaesk (devel) (go1.") {
		t.Errorf("versionString(nil) = %q", got)
	}
}

// --help prints the usage once, and a parse error prints no usage at all.
func TestUsagePrintedOnce(t *testing.T) {
	_, stderr, code := runMain(context.Background(), "", "collect", "--help")
	if code != 0 || strings.Count(stderr, "usage: kafkaesk collect") != 1 {
		t.Errorf("--help: exit %d, want the usage once:\n%s", code, stderr)
	}
	_, stderr, code = runMain(context.Background(), "", "collect", "--nope")
	if code != 2 || strings.Contains(stderr, "usage: kafkaesk collect") {
		t.Errorf("--nope: exit %d, want 2 and no usage:\n%s", code, stderr)
	}
}

func TestHelpOfAnUnknownCommand(t *testing.T) {
	_, stderr, code := runMain(context.Background(), "", "help", "nosuch")
	if code != 2 || !strings.Contains(stderr, `unknown command "nosuch"`) {
		t.Errorf("exit %d, want 2 naming the command:\n%s", code, stderr)
	}
}
