// Package grpcjwtotel reports what grpcjwt's interceptors and Validator do
// as OpenTelemetry metrics and traces. It lives in a module of its own,
// github.com/grpcjwt/grpcjwt/otel, so that the library itself takes no
// OpenTelemetry dependency.
//
// [New] returns an [Observer] to set in [grpcjwt.Config.Observer];
// [Observer.Register] adds the gauges read from [grpcjwt.Validator.State]:
//
//	obs, err := grpcjwtotel.New() // the global MeterProvider and TracerProvider
//	if err != nil {
//		log.Fatal(err)
//	}
//	v, err := grpcjwt.NewValidator(ctx, grpcjwt.Config{
//		Issuer:   "https://your-tenant.logto.app/oidc",
//		Audience: "https://api.example.com",
//		Observer: obs,
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer v.Close()
//	unregister, err := obs.Register(v)
//	if err != nil {
//		log.Fatal(err)
//	}
//	defer unregister()
//
// The metrics (names as OpenTelemetry has them; the Prometheus exporter
// writes grpcjwt_decisions_total, grpcjwt_validation_duration_seconds, ...):
//
//	grpcjwt.decisions             counter    {call}        rpc.method, result, cause
//	grpcjwt.cache.hits            counter    {validation}
//	grpcjwt.cache.misses          counter    {validation}
//	grpcjwt.validation.duration   histogram  s             cache (hit, miss), result (ok, refused)
//	grpcjwt.key_fetches           counter    {fetch}       issuer, reason, outcome (success, failure)
//	grpcjwt.key_fetch.duration    histogram  s             issuer, reason, outcome
//	grpcjwt.introspections        counter    {request}     issuer, reason (opaque, revocation_check), outcome (active, refused, unavailable)
//	grpcjwt.introspection.duration histogram s             issuer, reason, outcome
//	grpcjwt.cache.entries         gauge      {entry}
//	grpcjwt.cache.size            gauge      By
//	grpcjwt.cache.evictions       counter    {entry}
//	grpcjwt.keys                  gauge      {key}         issuer
//	grpcjwt.keys.age              gauge      s             issuer
//	grpcjwt.keys.stale            gauge      (0 or 1)      issuer
//	grpcjwt.keys.stale_duration   gauge      s             issuer
//	grpcjwt.issuer.ready          gauge      (0 or 1)      issuer
//	grpcjwt.keys.max_stale        gauge      s
//	grpcjwt.replay_cache.proofs   gauge      {proof}
//	grpcjwt.replay_cache.size     gauge      By
//	grpcjwt.replay_cache.keys     gauge      {key}
//	grpcjwt.replay_cache.max_proofs gauge    {proof}
//	grpcjwt.replay_cache.max_size gauge      By
//
// The nine from grpcjwt.cache.entries to grpcjwt.keys.max_stale come from
// [Observer.Register]; readiness and grpcjwt.keys.max_stale follow the
// bound of [WithMaxStale]. The replay_cache ones come from
// [Observer.RegisterReplayCache], for the DPoP replay cache of
// [grpcjwt.NewMemoryReplayCache]. Every attribute value is
// bounded: rpc.method is a method the server knows, or "unknown" for any
// other name a caller sends; result is a [grpcjwt.Result]; cause is a
// [grpcjwt.Cause], the label each sentinel error of grpcjwt is declared
// with ("expired" for [grpcjwt.ErrTokenExpired], as [grpcjwt.CauseOf]
// says), "none" or "other"; issuer is a configured issuer.
// Nothing of a token is recorded. The validation histogram holds every
// miss and the hits the Validator times (one in 64): its count for
// cache="hit" is a sample; grpcjwt.cache.hits is the count.
//
// Every key fetch (at startup, periodic, or for an unknown kid) is a span,
// grpcjwt.key_fetch, with the issuer and the reason, ended with the number
// of keys or with an error status and the error's message. So is every
// request to an introspection endpoint (RFC 7662), grpcjwt.introspection,
// ended with its outcome ("refused" with the cause), and with an error
// status when the endpoint could not answer.
//
// Recording a decision or a validation allocates nothing, and a cache hit
// costs an atomic addition: decisions and hits are counted in memory
// and reported at collection, with attribute sets built once per
// combination.
package grpcjwtotel
