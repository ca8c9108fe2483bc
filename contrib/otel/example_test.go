package authfsmotel_test

import (
	"context"
	"fmt"
	"log"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	authfsmotel "github.com/authfsm/authfsm/contrib/otel"
	"github.com/authfsm/authfsm/session"
)

func Example() {
	// A MeterProvider with a reader; in production, an OTLP or Prometheus
	// exporter's reader (or nil for otel.GetMeterProvider()).
	reader := sdkmetric.NewManualReader()
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer provider.Shutdown(context.Background())

	m, err := authfsmotel.New(provider)
	if err != nil {
		log.Fatal(err)
	}
	refresher := session.RefresherFunc(func(context.Context, session.Token) (session.Token, error) {
		return session.Token{Access: "access-1", Refresh: "refresh-1", Expiry: time.Now().Add(time.Hour)}, nil
	})
	s, err := session.New(context.Background(), refresher, session.Token{Refresh: "refresh-0"},
		session.WithHooks(m.Hooks()))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Token(context.Background()); err != nil {
		log.Fatal(err)
	}
	s.Close()

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if h, ok := mt.Data.(metricdata.Histogram[float64]); ok {
				fmt.Println(mt.Name, mt.Unit, h.DataPoints[0].Count)
			}
			if s, ok := mt.Data.(metricdata.Sum[int64]); ok && s.IsMonotonic {
				p := s.DataPoints[0]
				outcome, _ := p.Attributes.Value(authfsmotel.OutcomeKey)
				fmt.Println(mt.Name, mt.Unit, outcome.AsString(), p.Value)
			}
		}
	}
	// Output:
	// authfsm.refresh.attempts {attempt} success 1
	// authfsm.refresh.duration s 1
}
