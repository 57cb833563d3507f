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
// reader; the exporter does not run on the request path). The differences
// are what reporting costs a hit: the core's clock readings, then the
// adapter's histogram record.
func BenchmarkObserver(b *testing.B) {
	f := fixture(b)
	const alg = "RS256"
	token := f.Tokens[alg]
	for _, mode := range []struct {
		name     string
		observer func() (grpcjwt.Observer, error)
	}{
		{"grpcjwt-cachehit", func() (grpcjwt.Observer, error) { return nil, nil }},
		{"grpcjwt-cachehit-nopobserver", func() (grpcjwt.Observer, error) { return nopObserver{}, nil }},
		{"grpcjwt-cachehit-otel", func() (grpcjwt.Observer, error) {
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			return grpcjwtotel.New(grpcjwtotel.WithMeterProvider(mp))
		}},
	} {
		b.Run(alg+"/"+mode.name, func(b *testing.B) {
			v := memoize(b, "observer "+mode.name, func() (Verifier, error) {
				obs, err := mode.observer()
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
			benchVerify(b, f.Issuer, v, token, nil, false)
		})
	}
}
