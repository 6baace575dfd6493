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
// with a message naming the flag, as the flag package does for every flag.
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
		{"replication-factor", EnvReplicationFactor, "replication factor of created topics (0: min(3, brokers))", func(s string) error {
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
