package core

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// The environment variables read by [AddFlags], one for each worker flag.
const (
	EnvKafkaServers      = "KAFKAESK_KAFKA_SERVERS"
	EnvKafkaSettings     = "KAFKAESK_KAFKA_SETTINGS"
	EnvTopicPrefix       = "KAFKAESK_TOPIC_PREFIX"
	EnvReplicationFactor = "KAFKAESK_REPLICATION_FACTOR"
)

// AddFlags gives a program the kafkaesk worker's flags, writing into cfg:
//
//	--kafka-servers        comma-separated host:port list   ($KAFKAESK_KAFKA_SERVERS)
//	--kafka-settings       JSON object, see ApplySettings   ($KAFKAESK_KAFKA_SETTINGS)
//	--topic-prefix         prefix of every topic            ($KAFKAESK_TOPIC_PREFIX)
//	--replication-factor   of created topics                ($KAFKAESK_REPLICATION_FACTOR)
//
// The environment variables are applied to cfg at once; flags given on the
// command line are applied by fs.Parse on top of them. A malformed variable
// is returned as an error naming it; a malformed flag makes fs.Parse fail
// with a message naming the flag, as the flag package does for every flag,
// but for --kafka-settings, whose value may hold a password that the flag
// package's message would quote: its error is kept in cfg, returned by
// Config.FlagError and by New.
func AddFlags(fs *flag.FlagSet, cfg *Config) error {
	flags := []struct {
		name, env, usage string
		set              func(string) error
	}{
		{"kafka-servers", EnvKafkaServers, "comma-separated Kafka bootstrap servers, host:port", func(s string) error {
			servers, err := parseServers(s)
			if err == nil {
				cfg.Brokers = servers
			}
			return err
		}},
		{"kafka-settings", EnvKafkaSettings, "JSON object of client settings, e.g. {\"acks\":1}", func(s string) error {
			return cfg.ApplySettings([]byte(s))
		}},
		{"topic-prefix", EnvTopicPrefix, "prefix prepended to every stream name to form its topic", func(s string) error {
			cfg.TopicPrefix = s
			return nil
		}},
		{"replication-factor", EnvReplicationFactor, "replication factor of created topics (0: min(3, brokers up), or the cluster's default.replication.factor if higher)", func(s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return fmt.Errorf("want a whole number of 0 or more, got %q", s)
			}
			cfg.ReplicationFactor = n
			return nil
		}},
	}
	var errs []error
	for _, f := range flags {
		set := f.set
		if f.name == "kafka-settings" {
			// The flag package would quote the whole value in its error,
			// password included: the error waits in cfg instead.
			set = func(s string) error {
				cfg.flagErr = nil
				if err := f.set(s); err != nil {
					cfg.flagErr = fmt.Errorf("flag --kafka-settings (value not shown: it may hold a password): %w", err)
				}
				return nil
			}
		}
		fs.Func(f.name, f.usage+" (env "+f.env+")", set)
		if v, ok := os.LookupEnv(f.env); ok && v != "" {
			if err := f.set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", f.env, err))
			}
		}
	}
	return errors.Join(errs...)
}

// FlagError returns the error of a --kafka-settings value that AddFlags
// could not apply, naming the flag but not the value; nil when there is
// none. New returns it too.
func (c *Config) FlagError() error { return c.flagErr }

// The environment variables read by [AddSpoolFlags].
const (
	EnvSpoolDir      = "KAFKAESK_SPOOL_DIR"
	EnvSpoolMaxBytes = "KAFKAESK_SPOOL_MAX_BYTES"
	EnvSpoolSync     = "KAFKAESK_SPOOL_SYNC"
)

// AddSpoolFlags gives a program that publishes the flags of the
// producer's disk spool (SpoolConfig), writing into cfg.Spool, with
// their environment variables applied as AddFlags does:
//
//	--spool-dir         directory of the spool (default: none)   ($KAFKAESK_SPOOL_DIR)
//	--spool-max-bytes   its most bytes on disk (default: 1 GiB)  ($KAFKAESK_SPOOL_MAX_BYTES)
//	--spool-sync        interval (1s), batch or never            ($KAFKAESK_SPOOL_SYNC)
func AddSpoolFlags(fs *flag.FlagSet, cfg *Config) error {
	flags := []struct {
		name, env, usage string
		set              func(string) error
	}{
		{"spool-dir", EnvSpoolDir, "directory of the disk spool, where messages wait while Kafka is away or slow (default: none)", func(s string) error {
			cfg.Spool.Dir = s
			return nil
		}},
		{"spool-max-bytes", EnvSpoolMaxBytes, "most bytes the spool holds on disk; past it messages are refused (default: 1 GiB)", func(s string) error {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 1 {
				return fmt.Errorf("want a whole number of bytes, 1 or more, got %q", s)
			}
			cfg.Spool.MaxBytes = n
			return nil
		}},
		{"spool-sync", EnvSpoolSync, "when the spool syncs to disk: interval (every second), batch, or never", func(s string) error {
			switch s {
			case "interval":
				cfg.Spool.Sync = SpoolSyncInterval
			case "batch":
				cfg.Spool.Sync = SpoolSyncBatch
			case "never":
				cfg.Spool.Sync = SpoolSyncNever
			default:
				return fmt.Errorf("want interval, batch or never, got %q", s)
			}
			return nil
		}},
	}
	var errs []error
	for _, f := range flags {
		fs.Func(f.name, f.usage+" (env "+f.env+")", f.set)
		if v, ok := os.LookupEnv(f.env); ok && v != "" {
			if err := f.set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s: %w", f.env, err))
			}
		}
	}
	return errors.Join(errs...)
}

func parseServers(s string) ([]string, error) {
	var servers []string
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if err := checkBrokerAddr(part); err != nil {
			return nil, err
		}
		servers = append(servers, part)
	}
	if len(servers) == 0 {
		return nil, fmt.Errorf("no servers in %q", s)
	}
	return servers, nil
}
