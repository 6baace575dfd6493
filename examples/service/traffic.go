package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

// generateTraffic requests the service's own endpoints perSecond times a
// second until ctx ends, so that a demo shows logs without anyone clicking:
// greetings and orders (one in six of them missing), and a failing
// checkout every tenth request.
func generateTraffic(ctx context.Context, baseURL string, perSecond int, logger *slog.Logger) {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(time.Second / time.Duration(perSecond))
	defer tick.Stop()
	names := []string{"ana", "bo", "chen", "dara", "eli"}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		path := "/hello?name=" + names[rand.IntN(len(names))]
		switch {
		case i%10 == 9:
			path = "/checkout"
		case i%2 == 1:
			path = fmt.Sprintf("/orders/%d", 1+rand.IntN(lastOrder*6/5))
		}
		if err := get(ctx, client, baseURL+path); err != nil && ctx.Err() == nil {
			logger.Warn("traffic: request failed", "err", err)
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return err
}
