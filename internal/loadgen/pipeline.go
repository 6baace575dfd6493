package loadgen

import (
	"github.com/kafkaesk-go/kafkaesk/core"
	"github.com/kafkaesk-go/kafkaesk/sloghandler"
)

// counts is what a load's pipeline has done so far: the handler's Stats,
// and with a disk spool what went through it. Once the spool is empty,
// Enqueued = Acked + Dropped + Failed + Unknown + Queued + OnDisk, if the
// spool was empty when the load started.
type counts struct {
	sloghandler.Stats
	// Acked is Published plus the events delivered from the spool since
	// the load started: everything acknowledged. Failed likewise counts
	// the events that failed on their way out of the spool.
	Acked int64
	// OnDisk is the events in the spool, not acknowledged yet, and
	// SpoolBytes the size of its files; zero without a spool.
	OnDisk, SpoolBytes int64
}

// backlog is what is accepted and not acknowledged yet: in the queue and
// in the spool.
func (c counts) backlog() int64 { return c.Queued + c.OnDisk }

// pipeline reads a load's handler and, when the application has a disk
// spool (core.Config.Spool), the spool. The handler's Spooled events
// leave the spool as the spool's Delivered, so that Acked counts both.
type pipeline struct {
	h                 *sloghandler.Handler
	app               *core.Application
	spooling          bool  // the application has a spool
	delivered, failed int64 // the spool's counts when the load started
}

func newPipeline(h *sloghandler.Handler, app *core.Application) *pipeline {
	st := app.SpoolStats()
	return &pipeline{h: h, app: app, spooling: st.Dir != "", delivered: st.Delivered, failed: st.Failed}
}

func (p *pipeline) counts() counts {
	c := counts{Stats: p.h.Stats()}
	c.Acked = c.Published
	if p.spooling {
		st := p.app.SpoolStats()
		c.Acked += st.Delivered - p.delivered
		c.Failed += st.Failed - p.failed
		c.OnDisk, c.SpoolBytes = st.OnDisk, st.Bytes
	}
	return c
}
