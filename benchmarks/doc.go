// Package benchmarks compares shipping slog records to Kafka with
// sloghandler against the alternatives, on identical events, in one
// `go test -bench` run. It is a module of its own so that the libraries
// compared with never enter kafkaesk's dependencies.
//
// The package holds the event every contender ships (this file's
// siblings); the benchmarks and the test that checks they deliver are in
// its test files, and cmd/ratios turns the benchmark output into a table
// of ratios. See README.md.
package benchmarks
