package main

import "context"

const brokerSynopsis = "[--port 9092] [--data-dir DIR]"

func runBroker(ctx context.Context, std *stdio, args []string) error { return nil }
