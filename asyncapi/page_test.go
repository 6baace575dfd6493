package asyncapi_test

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/kafkaesk-go/kafkaesk/asyncapi"
)

// chromium returns the browser of the page test: KAFKAESK_CHROMIUM
// (make test sets it from scripts/browser-env), or one on PATH.
func chromium(t *testing.T) string {
	if p := os.Getenv("KAFKAESK_CHROMIUM"); p != "" {
		return p
	}
	for _, b := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(b); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium for the page test: run scripts/browser-env (make test does), or set KAFKAESK_CHROMIUM")
	return ""
}

// The page renders in a real browser, offline: headless Chromium, with
// the network off, takes a screenshot in which the header band, the
// text and the operations' coloured badges are there.
func TestPageRendersInChromium(t *testing.T) {
	doc, err := asyncapi.Build(smallApp(t), &asyncapi.Options{Title: "shop", Version: "2.1.0", LogStreams: []string{"logs.shop"}})
	require.NoError(t, err)
	page, err := doc.HTML()
	require.NoError(t, err)
	dir := t.TempDir()
	html, shot := filepath.Join(dir, "docs.html"), filepath.Join(dir, "docs.png")
	require.NoError(t, os.WriteFile(html, page, 0o644))

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium(t), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
		"--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", // nothing from the network
		"--user-data-dir="+filepath.Join(dir, "profile"), "--window-size=1000,1400", "--screenshot="+shot, "file://"+html)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "chromium: %s", out)

	f, err := os.Open(shot)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Equal(t, image.Rect(0, 0, 1000, 1400), img.Bounds())
	var header, dark, send, receive int
	for y := 0; y < 1400; y += 2 {
		for x := 0; x < 1000; x += 2 {
			switch c := color.RGBAModel.Convert(img.At(x, y)).(color.RGBA); {
			case near(c, 0xf7, 0xf8, 0xfb) && y < 100:
				header++
			case c.R < 80 && c.G < 80 && c.B < 100:
				dark++
			case near(c, 0x1b, 0x7f, 0x4b):
				send++
			case near(c, 0x8a, 0x4b, 0xc2):
				receive++
			}
		}
	}
	assert.Greater(t, header, 5000, "the header band is drawn with the page's style")
	assert.Greater(t, dark, 1000, "text is drawn")
	assert.Positive(t, receive, "the receive badge")
	assert.Positive(t, send+receive, "the operations' badges")
}

func near(c color.RGBA, r, g, b uint8) bool {
	d := func(x, y uint8) int { return max(int(x), int(y)) - min(int(x), int(y)) }
	return d(c.R, r) < 12 && d(c.G, g) < 12 && d(c.B, b) < 12
}
