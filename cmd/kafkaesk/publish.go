package main

import "context"

const publishSynopsis = "--stream STREAM [--schema NAME:VERSION] [--schema-file FILE.json] [--key KEY] [--data JSON]"

func runPublish(ctx context.Context, std *stdio, args []string) error { return nil }
