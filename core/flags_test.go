package core_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/core"
)

// clearFlagEnv unsets, for the test, the environment variables AddFlags
// reads, so that the environment the tests run in does not leak in.
// AddFlags ignores a variable set to "".
func clearFlagEnv(t *testing.T) {
	t.Helper()
	for _, name := range []string{core.EnvKafkaServers, core.EnvKafkaSettings, core.EnvTopicPrefix, core.EnvReplicationFactor} {
		t.Setenv(name, "")
	}
}

// newFlagSet returns a ContinueOnError flag set with the worker flags
// writing into cfg; its output goes to the returned buffer.
func newFlagSet(t *testing.T, cfg *core.Config) (*flag.FlagSet, *bytes.Buffer) {
	t.Helper()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := core.AddFlags(fs, cfg); err != nil {
		t.Fatalf("AddFlags: %v", err)
	}
	return fs, &out
}

func TestFlagsParse(t *testing.T) {
	clearFlagEnv(t)
	var cfg core.Config
	fs, _ := newFlagSet(t, &cfg)
	err := fs.Parse([]string{
		"--kafka-servers", "a:1,b:2",
		"--topic-prefix", "dev.",
		"--replication-factor", "2",
		"--kafka-settings", `{"acks":1}`,
		"rest",
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := core.Config{
		Brokers:           []string{"a:1", "b:2"},
		TopicPrefix:       "dev.",
		ReplicationFactor: 2,
		RequiredAcks:      core.AcksLeader,
	}
	if !slices.Equal(cfg.Brokers, want.Brokers) || cfg.TopicPrefix != want.TopicPrefix ||
		cfg.ReplicationFactor != want.ReplicationFactor || cfg.RequiredAcks != want.RequiredAcks {
		t.Errorf("Config after Parse = %+v, want %+v", cfg, want)
	}
	if got := fs.Args(); !slices.Equal(got, []string{"rest"}) {
		t.Errorf("fs.Args() = %q, want [rest]", got)
	}
}

// --kafka-servers trims spaces and skips empty entries.
func TestFlagsServersList(t *testing.T) {
	clearFlagEnv(t)
	for _, tt := range []struct {
		arg  string
		want []string
	}{
		{"a:1", []string{"a:1"}},
		{" a:1 , b:2 ", []string{"a:1", "b:2"}},
		{"a:1,,b:2,", []string{"a:1", "b:2"}},
		{"[::1]:9092,host.example:9093", []string{"[::1]:9092", "host.example:9093"}},
	} {
		t.Run(tt.arg, func(t *testing.T) {
			var cfg core.Config
			fs, _ := newFlagSet(t, &cfg)
			if err := fs.Parse([]string{"--kafka-servers", tt.arg}); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !slices.Equal(cfg.Brokers, tt.want) {
				t.Errorf("Brokers = %q, want %q", cfg.Brokers, tt.want)
			}
		})
	}
}

// Values already in the Config are kept when neither flag nor variable is
// given.
func TestFlagsKeepConfigWithoutFlags(t *testing.T) {
	clearFlagEnv(t)
	cfg := core.Config{Brokers: []string{"keep:1"}, TopicPrefix: "keep.", ReplicationFactor: 5, ClientID: "keep"}
	fs, _ := newFlagSet(t, &cfg)
	if err := fs.Parse(nil); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !slices.Equal(cfg.Brokers, []string{"keep:1"}) || cfg.TopicPrefix != "keep." || cfg.ReplicationFactor != 5 || cfg.ClientID != "keep" {
		t.Errorf("Config changed without flags or environment: %+v", cfg)
	}
}

func TestFlagsFromEnv(t *testing.T) {
	clearFlagEnv(t)
	t.Setenv(core.EnvKafkaServers, "e1:1,e2:2")
	t.Setenv(core.EnvKafkaSettings, `{"acks": 0, "client_id": "from-env"}`)
	t.Setenv(core.EnvTopicPrefix, "env.")
	t.Setenv(core.EnvReplicationFactor, "3")

	var cfg core.Config
	fs, _ := newFlagSet(t, &cfg)
	// The environment is applied by AddFlags itself, before Parse.
	if !slices.Equal(cfg.Brokers, []string{"e1:1", "e2:2"}) || cfg.TopicPrefix != "env." ||
		cfg.ReplicationFactor != 3 || cfg.RequiredAcks != core.AcksNone || cfg.ClientID != "from-env" {
		t.Errorf("Config after AddFlags = %+v, want the environment's values", cfg)
	}
	if err := fs.Parse(nil); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !slices.Equal(cfg.Brokers, []string{"e1:1", "e2:2"}) || cfg.TopicPrefix != "env." ||
		cfg.ReplicationFactor != 3 || cfg.RequiredAcks != core.AcksNone || cfg.ClientID != "from-env" {
		t.Errorf("Config after Parse with no flags = %+v, want the environment's values", cfg)
	}
}

// The variable names are the documented ones.
func TestFlagsEnvNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{core.EnvKafkaServers, "KAFKAESK_KAFKA_SERVERS"},
		{core.EnvKafkaSettings, "KAFKAESK_KAFKA_SETTINGS"},
		{core.EnvTopicPrefix, "KAFKAESK_TOPIC_PREFIX"},
		{core.EnvReplicationFactor, "KAFKAESK_REPLICATION_FACTOR"},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
}

// Flags given on the command line override the environment; settings
// from --kafka-settings are applied on top of those from the environment,
// key by key.
func TestFlagsOverrideEnv(t *testing.T) {
	clearFlagEnv(t)
	t.Setenv(core.EnvKafkaServers, "e1:1,e2:2")
	t.Setenv(core.EnvKafkaSettings, `{"acks": 0, "client_id": "from-env"}`)
	t.Setenv(core.EnvTopicPrefix, "env.")
	t.Setenv(core.EnvReplicationFactor, "3")

	var cfg core.Config
	fs, _ := newFlagSet(t, &cfg)
	err := fs.Parse([]string{
		"--kafka-servers", "f:1",
		"--kafka-settings", `{"client_id": "from-flag"}`,
		"--topic-prefix", "flag.",
		"--replication-factor", "1",
	})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if !slices.Equal(cfg.Brokers, []string{"f:1"}) {
		t.Errorf("Brokers = %q, want [f:1]", cfg.Brokers)
	}
	if cfg.TopicPrefix != "flag." {
		t.Errorf("TopicPrefix = %q, want flag.", cfg.TopicPrefix)
	}
	if cfg.ReplicationFactor != 1 {
		t.Errorf("ReplicationFactor = %d, want 1", cfg.ReplicationFactor)
	}
	if cfg.ClientID != "from-flag" {
		t.Errorf("ClientID = %q, want from-flag", cfg.ClientID)
	}
	if cfg.RequiredAcks != core.AcksNone {
		t.Errorf("RequiredAcks = %v, want none (from the environment's settings, not overridden)", cfg.RequiredAcks)
	}
}

// A malformed environment variable makes AddFlags return an error naming
// the variable and what is wrong with it.
func TestFlagsBadEnv(t *testing.T) {
	for _, tt := range []struct {
		name, env, value string
		want             []string
	}{
		{"servers without port", core.EnvKafkaServers, "nohostport", []string{`"nohostport"`}},
		{"servers bad port", core.EnvKafkaServers, "a:1,b:70000", []string{`"b:70000"`}},
		{"servers only commas", core.EnvKafkaServers, " , ", nil},
		{"settings unknown key", core.EnvKafkaSettings, `{"nope": 1}`, []string{`"nope"`}},
		{"settings not JSON", core.EnvKafkaSettings, `acks=1`, nil},
		{"settings bad value", core.EnvKafkaSettings, `{"linger_ms": "fast"}`, []string{`"linger_ms"`}},
		{"replication factor not a number", core.EnvReplicationFactor, "x", []string{`"x"`}},
		{"replication factor negative", core.EnvReplicationFactor, "-1", []string{`"-1"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearFlagEnv(t)
			t.Setenv(tt.env, tt.value)
			fs := flag.NewFlagSet("worker", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			var cfg core.Config
			err := core.AddFlags(fs, &cfg)
			requireErrorContains(t, err, append([]string{tt.env}, tt.want...)...)
		})
	}
}

// A malformed flag value makes Parse fail with an error naming the flag
// and what is wrong with the value.
func TestFlagsBadValue(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"replication factor not a number", []string{"--replication-factor", "x"}, []string{"-replication-factor", `"x"`}},
		{"replication factor negative", []string{"--replication-factor=-2"}, []string{"-replication-factor", `"-2"`}},
		{"servers without port", []string{"--kafka-servers", "nohostport"}, []string{"-kafka-servers", `"nohostport"`}},
		{"servers bad port", []string{"--kafka-servers", "a:1,host:70000"}, []string{"-kafka-servers", `"host:70000"`}},
		{"servers empty", []string{"--kafka-servers", ""}, []string{"-kafka-servers"}},
		{"missing value", []string{"--kafka-servers"}, []string{"kafka-servers"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearFlagEnv(t)
			var cfg core.Config
			fs, out := newFlagSet(t, &cfg)
			err := fs.Parse(tt.args)
			requireErrorContains(t, err, tt.want...)
			// The flag package also prints the error, then the usage.
			if !strings.Contains(out.String(), err.Error()) {
				t.Errorf("output %q does not hold the error %q", out, err)
			}
		})
	}
}

// A malformed --kafka-settings is not a Parse error (the flag package
// would print the value): FlagError names the flag and what is wrong.
func TestFlagsBadSettingsValue(t *testing.T) {
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"settings unknown key", []string{"--kafka-settings", `{"nope":1}`}, []string{"--kafka-settings", `"nope"`}},
		{"settings wrong type", []string{"--kafka-settings", `{"linger_ms":"fast"}`}, []string{"--kafka-settings", `"linger_ms"`}},
		{"settings not an object", []string{"--kafka-settings", `[1]`}, []string{"--kafka-settings", "not a JSON object"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			clearFlagEnv(t)
			var cfg core.Config
			fs, _ := newFlagSet(t, &cfg)
			require.NoError(t, fs.Parse(tt.args))
			requireErrorContains(t, cfg.FlagError(), tt.want...)
		})
	}
}

// --help, and PrintDefaults, list the four flags with their variables.
func TestFlagsHelp(t *testing.T) {
	clearFlagEnv(t)
	var cfg core.Config
	fs, out := newFlagSet(t, &cfg)
	if err := fs.Parse([]string{"--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("Parse(--help) = %v, want flag.ErrHelp", err)
	}
	help := out.String()

	var defaults bytes.Buffer
	fs.SetOutput(&defaults)
	fs.PrintDefaults()

	for _, text := range []string{help, defaults.String()} {
		for _, want := range []string{
			"-kafka-servers", core.EnvKafkaServers,
			"-kafka-settings", core.EnvKafkaSettings,
			"-topic-prefix", core.EnvTopicPrefix,
			"-replication-factor", core.EnvReplicationFactor,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("help does not mention %s:\n%s", want, text)
			}
		}
	}
	// Each flag's line names its own variable.
	for _, pair := range [][2]string{
		{"-kafka-servers", core.EnvKafkaServers},
		{"-kafka-settings", core.EnvKafkaSettings},
		{"-topic-prefix", core.EnvTopicPrefix},
		{"-replication-factor", core.EnvReplicationFactor},
	} {
		_, after, ok := strings.Cut(defaults.String(), "  "+pair[0]+" ")
		if !ok {
			t.Errorf("no line for %s in\n%s", pair[0], defaults.String())
			continue
		}
		// The usage ends where the next flag begins.
		usage, _, _ := strings.Cut(after, "\n  -")
		if !strings.Contains(usage, pair[1]) {
			t.Errorf("usage of %s does not name %s: %q", pair[0], pair[1], usage)
		}
	}
}

// The spool flags set Config.Spool, from the command line or from their
// KAFKAESK_SPOOL_* variables (the flag wins), and a bad value names the
// flag or the variable and the value.
func TestSpoolFlags(t *testing.T) {
	for _, name := range []string{core.EnvSpoolDir, core.EnvSpoolMaxBytes, core.EnvSpoolSync} {
		t.Setenv(name, "")
	}
	parse := func(args ...string) (core.Config, error) {
		fs := flag.NewFlagSet("collect", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		var cfg core.Config
		if err := core.AddSpoolFlags(fs, &cfg); err != nil {
			return cfg, err
		}
		return cfg, fs.Parse(args)
	}
	cfg, err := parse("--spool-dir", "/var/spool/k", "--spool-max-bytes", "1048576", "--spool-sync", "batch")
	if err != nil {
		t.Fatal(err)
	}
	if want := (core.SpoolConfig{Dir: "/var/spool/k", MaxBytes: 1 << 20, Sync: core.SpoolSyncBatch}); cfg.Spool != want {
		t.Errorf("Spool = %+v, want %+v", cfg.Spool, want)
	}

	t.Setenv(core.EnvSpoolDir, "/from/env")
	t.Setenv(core.EnvSpoolSync, "never")
	if cfg, err = parse(); err != nil || cfg.Spool.Dir != "/from/env" || cfg.Spool.Sync != core.SpoolSyncNever {
		t.Errorf("from the environment: Spool = %+v, %v", cfg.Spool, err)
	}
	if cfg, err = parse("--spool-dir", "/from/flag", "--spool-sync", "interval"); err != nil || cfg.Spool.Dir != "/from/flag" || cfg.Spool.Sync != core.SpoolSyncInterval {
		t.Errorf("the flag wins: Spool = %+v, %v", cfg.Spool, err)
	}

	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"--spool-max-bytes", "0"}, []string{"-spool-max-bytes", `"0"`}},
		{[]string{"--spool-max-bytes", "1GiB"}, []string{"-spool-max-bytes", `"1GiB"`}},
		{[]string{"--spool-sync", "always"}, []string{"-spool-sync", `"always"`, "interval, batch or never"}},
	} {
		_, err := parse(tt.args...)
		requireErrorContains(t, err, tt.want...)
	}
	t.Setenv(core.EnvSpoolMaxBytes, "-5")
	_, err = parse()
	requireErrorContains(t, err, core.EnvSpoolMaxBytes, `"-5"`)
}

// A malformed --kafka-settings is reported by FlagError and New, naming
// the flag, and never with its value: the flag package would quote it,
// password included.
func TestKafkaSettingsFlagErrorHidesTheValue(t *testing.T) {
	const secret = "flag-test-s3cret"
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	var out strings.Builder
	fs.SetOutput(&out)
	var cfg core.Config
	require.NoError(t, core.AddFlags(fs, &cfg))
	require.NoError(t, fs.Parse([]string{"--kafka-servers", "127.0.0.1:9092", "--kafka-settings", `{"sasl_plain_password":` + secret + `}`}))
	err := cfg.FlagError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flag --kafka-settings (value not shown")
	assert.NotContains(t, err.Error(), secret)
	_, err = core.New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "flag --kafka-settings")
	assert.NotContains(t, err.Error(), secret)
	assert.NotContains(t, out.String(), secret)

	require.NoError(t, fs.Parse([]string{"--kafka-settings", `{"acks":1}`}))
	assert.NoError(t, cfg.FlagError(), "a good value given later clears it")
}
