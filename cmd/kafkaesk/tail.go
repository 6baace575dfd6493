package main

import (
	"context"
	"errors"
)

const tailSynopsis = "PATTERN [--group G] [--from-beginning] [--exit] [--format pretty|json]"

func runTail(ctx context.Context, std *stdio, args []string) error {
	return errors.New("tail: being written")
}
