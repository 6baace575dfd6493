package main

import (
	"context"
	"errors"
)

const collectSynopsis = "--pattern PATTERN [--pattern PATTERN...] --group GROUP --output OUTPUT [--output OUTPUT...] [--min-level LEVEL]"

func runCollect(ctx context.Context, std *stdio, args []string) error {
	return errors.New("collect: being written")
}
