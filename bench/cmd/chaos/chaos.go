package main

import (
	"context"
	"sync"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
	"google.golang.org/grpc"
)

// minRefresh is the example server's MinRefreshInterval: the library's
// default, which its flags do not change. The server refreshes for an
// unknown kid at most once per minRefresh (the first time is free), and
// retries a failed refresh minRefresh later.
//
// slack is added to every wait on the server's rate limit, for the time
// between the run's clock and the server's.
const slack = 2 * time.Second

// step is one entry of the run's timeline.
type step struct {
	at       time.Duration // since the load started
	name     string
	detail   string
	requests int64 // JWKS requests the issuer received during it
}

// chaos drives the issuer through its faults while the load runs.
type chaos struct {
	is         *issuer
	p          *pools
	conn       *grpc.ClientConn
	t          *tally
	phase      time.Duration
	minRefresh time.Duration
	start, end time.Time

	// lastUnknown is no earlier than the server's last refresh for an
	// unknown kid; zero before the first.
	lastUnknown time.Time
	hung        bool // the JWKS hung since the issuer last started
	rotations   int

	steps []step
}

// slotSteps are the faults that each meet one refresh of the server, in
// turn.
var slotSteps = []string{"rotate", "500", "hang", "down"}

// run runs the schedule until c.end; see the package doc.
func (c *chaos) run() error {
	for i := 0; ; i++ {
		name := slotSteps[i%len(slotSteps)]
		open := time.Now()
		if !c.lastUnknown.IsZero() {
			open = c.lastUnknown.Add(c.minRefresh + slack)
		}
		if open.Add(c.phase).After(c.end) {
			// Not enough time for the step: background faults until
			// the end, then calm.
			if err := c.background(c.end.Add(-c.phase)); err != nil {
				return err
			}
			return c.calm(c.end)
		}
		if err := c.background(open.Add(-(c.phase + 5*time.Second))); err != nil {
			return err
		}
		if err := c.calm(open); err != nil {
			return err
		}
		if err := c.slot(name); err != nil {
			return err
		}
	}
}

// record runs f as a step of the timeline.
func (c *chaos) record(name string, f func() string) {
	s := step{at: time.Since(c.start), name: name}
	before := c.is.fetches()
	s.detail = f()
	s.requests = c.is.fetches() - before
	c.steps = append(c.steps, s)
}

// sleepUntil sleeps until t, or not at all if t has passed.
func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// probing sends tokens of an unknown key until the returned func is
// called.
func (c *chaos) probing() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		probe(ctx, c.conn, c.p, c.is, c.t, 100*time.Millisecond)
	}()
	return func() { cancel(); wg.Wait() }
}

// background cycles the issuer through 500, hang, and stop and restart,
// one phase each, with probes, until until. The server's rate limit keeps
// it from fetching meanwhile, so these faults test that nothing depends on
// the issuer between refreshes (and the probes, that the limit holds).
func (c *chaos) background(until time.Time) error {
	if time.Until(until) < c.phase {
		return nil
	}
	stop := c.probing()
	defer stop()
	for j := 0; time.Until(until) >= c.phase; j++ {
		var err error
		switch j % 3 {
		case 0:
			c.record("background 500", func() string { c.is.setMode("500"); time.Sleep(c.phase); c.is.setMode("serve"); return "" })
		case 1:
			c.record("background hang", func() string {
				c.hung = true
				c.is.setMode("hang")
				time.Sleep(c.phase)
				c.is.setMode("serve")
				return ""
			})
		case 2:
			c.record("background stop", func() string { c.is.stop(); time.Sleep(c.phase); return "" })
			err = c.is.restart()
			c.hung = false
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// calm serves the JWKS normally until until: the issuer up, restarted if
// its JWKS hung since it started (which releases the requests that hang),
// no probes, and the removed key's tokens retired, so that nothing but the
// next step makes the server refresh for an unknown kid.
func (c *chaos) calm(until time.Time) error {
	c.p.retireRemoved()
	var err error
	c.record("calm", func() string {
		if c.hung {
			c.is.stop()
			c.hung = false
		}
		if err = c.is.restart(); err != nil { // a no-op if it is up
			return ""
		}
		c.is.setMode("serve")
		sleepUntil(until)
		// No refresh may be in flight when a step starts: a token of a
		// new key would join it, and it may predate the key.
		for time.Since(c.is.lastRequest()) < time.Second {
			time.Sleep(100 * time.Millisecond)
		}
		return ""
	})
	return err
}

// slot runs a step that meets one refresh of the server for an unknown
// kid, and notes when that refresh started.
func (c *chaos) slot(name string) error {
	var err error
	c.record(name, func() string {
		begin := time.Now()
		var detail string
		switch name {
		case "rotate":
			// The previous key goes, the current one stays published, a
			// new one signs: the first call with it makes the server
			// refresh, and the refresh drops the unpublished key.
			gone := c.p.unpublishPrev(c.is.fetches())
			if gone != "" {
				c.is.unpublish(gone)
				detail = "unpublished " + gone + ", "
			}
			k := grpcjwttest.MustKey(alg)
			c.is.rotate(k)
			c.p.rotate(k)
			c.rotations++
			detail += "new key " + k.KID
			time.Sleep(c.phase)
		case "500", "hang":
			if name == "hang" {
				c.hung = true
			}
			c.is.setMode(name)
			stop := c.probing()
			time.Sleep(c.phase)
			stop()
			c.is.setMode("serve")
			detail = "JWKS answers " + name + "; probes"
		case "down":
			c.is.stop()
			stop := c.probing()
			time.Sleep(c.phase)
			stop()
			err = c.is.restart()
			c.hung = false
			detail = "issuer stopped (connection refused); probes; back on " + c.is.addr
		}
		// The refresh started no later than the first JWKS request seen
		// since the step began (none is seen while the issuer is down),
		// else no later than now.
		c.lastUnknown = time.Now()
		if last := c.is.lastRequest(); name != "down" && last.After(begin) {
			c.lastUnknown = c.is.firstRequestSince(begin)
		}
		return detail
	})
	return err
}
