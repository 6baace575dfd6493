package main

import "context"

func runVersion(ctx context.Context, std *stdio, args []string) error { return nil }
