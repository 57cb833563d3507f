// Package expiry ends a stream's handler when its token expires: the
// mechanics every door with streams shares (grpc-go's, Connect's).
package expiry

import (
	"context"
	"time"
)

// Grace is how long a stream whose token expired waits for its handler to
// return after its context is cancelled, before it ends anyway: a handler
// blocked in a receive returns only once the stream has ended, so waiting
// longer would keep the stream open for it.
const Grace = 100 * time.Millisecond

// RunUntil runs a stream's handler, run, until it returns or d passes:
// then it cancels the handler's context, gives the handler Grace to
// return, and reports expired, so that the door ends the stream with
// invalid_token. A handler still running after Grace is left to finish on
// its own, with its context cancelled. The one timer is all it costs:
// nothing per message. A panic in the handler is raised again on the
// caller's goroutine, where the door's own callers recover it as they
// would the handler's.
func RunUntil(d time.Duration, cancel context.CancelFunc, run func() error) (expired bool, err error) {
	type result struct {
		err      error
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.panicked, r.value = true, p
			}
			done <- r
		}()
		r.err = run()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case r := <-done:
		if r.panicked {
			panic(r.value)
		}
		return false, r.err
	case <-t.C:
	}
	cancel()
	grace := time.NewTimer(Grace)
	defer grace.Stop()
	select {
	case r := <-done:
		if r.panicked {
			panic(r.value)
		}
	case <-grace.C:
	}
	return true, nil
}
