package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	grpcjwtotel "github.com/grpcjwt/grpcjwt/otel"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// metrics serves grpcjwt's OpenTelemetry metrics in the Prometheus text
// format at /metrics, through the OpenTelemetry Prometheus exporter and a
// registry of its own.
type metrics struct {
	observer *grpcjwtotel.Observer
	provider *sdkmetric.MeterProvider
	lis      net.Listener
	srv      *http.Server
}

// listenMetrics listens on addr and sets up the metric pipeline, whose
// readiness gauges follow maxStale (-health-max-stale) as the health
// service does; serve starts answering.
func listenMetrics(addr string, maxStale time.Duration) (*metrics, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("cannot listen on %s (-metrics-addr): the address is already in use", addr)
		}
		return nil, fmt.Errorf("cannot listen on %s (-metrics-addr): %w", addr, err)
	}
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithoutScopeInfo())
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("setting up the Prometheus exporter: %w", err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	obs, err := grpcjwtotel.New(grpcjwtotel.WithMeterProvider(mp), grpcjwtotel.WithMaxStale(maxStale))
	if err != nil {
		lis.Close()
		return nil, fmt.Errorf("setting up the metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &metrics{
		observer: obs,
		provider: mp,
		lis:      lis,
		srv:      &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
	}, nil
}

// serve answers scrapes until shutdown.
func (m *metrics) serve(log *slog.Logger) {
	go func() {
		if err := m.srv.Serve(m.lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("serving metrics", "error", err)
		}
	}()
}

// shutdown stops answering scrapes and the metric pipeline.
func (m *metrics) shutdown(ctx context.Context) {
	_ = m.srv.Shutdown(ctx)
	_ = m.provider.Shutdown(ctx)
}
