package grpcjwtredis

// DefaultPrefix is the default key prefix of a [ReplayCache].
const DefaultPrefix = "grpcjwt:dpop:"

// options are the settings of a [ReplayCache], with their defaults.
type options struct {
	prefix string
}

func defaultOptions() options {
	return options{prefix: DefaultPrefix}
}

// Option configures [New].
type Option func(*options)

// WithPrefix sets the prefix of every key the cache writes; default
// [DefaultPrefix]. Servers that share a cache must use the same prefix;
// give different APIs different prefixes (or different Redis databases)
// if their proofs must not meet.
func WithPrefix(prefix string) Option {
	return func(o *options) { o.prefix = prefix }
}
