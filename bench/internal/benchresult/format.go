package benchresult

import (
	"math"
	"strconv"
	"strings"
)

// FormatRatio writes a ratio as the tables do: three decimals, or two
// significant digits below 0.1.
func FormatRatio(x float64) string {
	if x < 0.1 {
		return strconv.FormatFloat(x, 'g', 2, 64)
	}
	return strconv.FormatFloat(x, 'f', 3, 64)
}

// FormatNs writes a time in nanoseconds as the tables do: one decimal
// below 100, else whole with commas.
func FormatNs(ns float64) string {
	if ns < 100 {
		return strconv.FormatFloat(ns, 'f', 1, 64)
	}
	return Thousands(math.Round(ns))
}

// Thousands formats an integral v with commas: 1,234,567.
func Thousands(v float64) string {
	s := strconv.FormatFloat(v, 'f', 0, 64)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
