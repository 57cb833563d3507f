package bench

import (
	"context"
	"testing"

	"github.com/grpcjwt/grpcjwt"
	grpcjwtotel "github.com/grpcjwt/grpcjwt/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// nopObserver is an Observer that does nothing: what Validate pays to
// report to any observer.
type nopObserver struct{}

func (nopObserver) ObserveDecision(context.Context, grpcjwt.Decision)     {}
func (nopObserver) ObserveValidation(context.Context, grpcjwt.Validation) {}
func (nopObserver) StartKeyFetch(ctx context.Context, _ grpcjwt.KeyFetch) (context.Context, func(grpcjwt.KeyFetchResult)) {
	return ctx, func(grpcjwt.KeyFetchResult) {}
}

// BenchmarkObserver is grpcjwt's Validate, cache hit, RS256, without an
// observer, with one that does nothing, and with the OpenTelemetry adapter
// (github.com/grpcjwt/grpcjwt/otel) recording into the metric SDK (a manual
// reader; the exporter does not run on the request path). The two with an
// observer are paired with the hit without one, in turns (benchPaired, the
// hit without an observer as the floor), so their x-floor is their cost as
// a multiple of a plain hit measured in the same moments: on a shared
// machine, hits timed one benchmark after another differ by more than
// what is measured here.
func BenchmarkObserver(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	token := f.Tokens[alg]
	modes := []struct {
		name     string
		observer func() (grpcjwt.Observer, error)
	}{
		{"grpcjwt-cachehit", func() (grpcjwt.Observer, error) { return nil, nil }},
		{"grpcjwt-cachehit-nopobserver", func() (grpcjwt.Observer, error) { return nopObserver{}, nil }},
		{"grpcjwt-cachehit-otel", func() (grpcjwt.Observer, error) {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			return grpcjwtotel.New(grpcjwtotel.WithMeterProvider(mp))
		}},
	}
	verifier := func(b *testing.B, i int) Verifier {
		return memoize(b, "observer "+modes[i].name, func() (Verifier, error) {
			obs, err := modes[i].observer()
			if err != nil {
				return nil, err
			}
			v, err := grpcjwt.NewValidator(context.Background(), grpcjwt.Config{
				Issuer: f.Issuer.URL, Audience: f.Issuer.Audience, Algorithms: Algs, Leeway: Leeway, Observer: obs,
			})
			if err != nil {
				return nil, err
			}
			return ValidatorVerifier(v), nil
		})
	}
	for i, mode := range modes {
		b.Run(alg+"/"+mode.name, func(b *testing.B) {
			var plain []floor
			if i > 0 {
				p := verifier(b, 0)
				mustAccept(b, p, token, Subject)
				plain = []floor{{"x-floor", call(p, token)}}
			}
			benchVerify(b, f.Issuer, verifier(b, i), token, plain, false)
		})
	}
}
