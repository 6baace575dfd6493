package record_test

import (
	"fmt"
	"io/fs"
	"log/slog"
	"syscall"

	"github.com/kafkaesk-go/kafkaesk/record"
)

// UserLog is a log model: embedding record.Model marks it.
type UserLog struct {
	record.Model
	User string  `json:"user"`
	Plan string  `json:"plan"`
	Team *string `json:"team"` // nil: left out, as kafkaesk leaves out None
}

// dropTime removes the record's time, so that the output is the same on
// every run.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && groups == nil {
		return slog.Attr{}
	}
	return a
}

// A log model passed next to other attributes is pulled out of the record,
// and its fields are merged into the published PydanticLogModel:1 event at
// the top level, after the base fields and the attributes.
func ExampleModel() {
	h := record.NewHandler(func(event []byte) error {
		fmt.Println(string(event))
		return nil
	}, slog.LevelInfo, &record.Options{
		Logger:      "accounts",
		Host:        &record.Host{Hostname: "accounts-5f7c9-abcde", Service: record.ServiceOf("accounts-5f7c9-abcde")},
		ReplaceAttr: dropTime,
	})
	logger := slog.New(h)

	logger.Info("signed in", "attempt", 2, "user", UserLog{User: "ana", Plan: "pro"})
	// Output:
	// {"schema":"PydanticLogModel:1","data":{"logger":"accounts","severity":"INFO","level":20,"message":"signed in","exception":null,"trace":null,"stack":null,"hostname":"accounts-5f7c9-abcde","service":"accounts","namespace":null,"cluster":null,"attempt":2,"user":"ana","plan":"pro"}}
}

// Groups become nested objects; an error fills exception and stack.
func ExampleNewHandler() {
	h := record.NewHandler(func(event []byte) error {
		fmt.Println(string(event))
		return nil
	}, slog.LevelInfo, &record.Options{
		Logger:      "orders",
		Host:        &record.Host{Hostname: "orders-7d9f8-xk2p9", Service: "orders", Namespace: "shop", Cluster: "eu-1"},
		ReplaceAttr: dropTime,
	})
	logger := slog.New(h).With("order", 1234).WithGroup("payment")

	logger.Error("charge failed", "amount", 9.5, "err", fmt.Errorf("card declined"))
	// Output:
	// {"schema":"PydanticLogModel:1","data":{"logger":"orders","severity":"ERROR","level":40,"message":"charge failed","exception":"error","trace":null,"stack":"card declined","hostname":"orders-7d9f8-xk2p9","service":"orders","namespace":"shop","cluster":"eu-1","order":1234,"payment":{"amount":9.5,"err":"card declined"}}}
}

// An error is told by its meaningful type and its chain, as Python tells an
// exception by its class and traceback.
func ExampleErrorChain() {
	err := fmt.Errorf("load config: %w", &fs.PathError{Op: "open", Path: "/etc/app.yaml", Err: syscall.ENOENT})
	fmt.Println(record.ErrorName(err))
	fmt.Println(record.ErrorChain(err))
	// Output:
	// fs.PathError
	// load config: open /etc/app.yaml: no such file or directory
	// caused by fs.PathError: open /etc/app.yaml: no such file or directory
	// caused by syscall.Errno: no such file or directory
}
