package demo

import (
	"context"
	"errors"
	"maps"
	"sync"

	"google.golang.org/grpc/credentials"
)

// recorder is per-RPC credentials that send what creds sends and keep a
// copy of the last metadata, for [replay] to send again.
type recorder struct {
	creds credentials.PerRPCCredentials

	mu   sync.Mutex
	last map[string]string
}

// GetRequestMetadata returns creds' metadata and records it.
func (r *recorder) GetRequestMetadata(ctx context.Context, uri ...string) (map[string]string, error) {
	md, err := r.creds.GetRequestMetadata(ctx, uri...)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.last = maps.Clone(md)
	r.mu.Unlock()
	return md, nil
}

// RequireTransportSecurity is that of creds.
func (r *recorder) RequireTransportSecurity() bool { return r.creds.RequireTransportSecurity() }

// replay is per-RPC credentials that send the metadata a [recorder]
// recorded last, unchanged: a captured DPoP proof sent again, as an
// attacker who saw a call would.
type replay struct{ r *recorder }

// GetRequestMetadata returns the recorded metadata, or an error if none
// was recorded yet.
func (p replay) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	p.r.mu.Lock()
	defer p.r.mu.Unlock()
	if p.r.last == nil {
		return nil, errors.New("no call was recorded to replay")
	}
	return maps.Clone(p.r.last), nil
}

// RequireTransportSecurity is false: the demo replays on loopback.
func (replay) RequireTransportSecurity() bool { return false }
