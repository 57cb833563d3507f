package bench

import (
	"testing"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// TestPaddedClaims checks that the tokens of BenchmarkTokenSize have about
// the sizes their names say.
func TestPaddedClaims(t *testing.T) {
	f := fixture(t)
	for _, size := range tokenSizes {
		c, err := PaddedClaims(f.Issuer, "RS256", time.Now(), size)
		if err != nil {
			t.Fatal(err)
		}
		got := len(f.Issuer.Token(c, grpcjwttest.WithKeyFor("RS256")))
		if d := got - size; d < -size/50 || d > size/50 {
			t.Errorf("%s token is %d bytes", SizeLabel(size), got)
		}
	}
}
