package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

type mintConfig struct {
	issuer          string // a running serve's URL
	keyFile, iss    string // or a key file and the iss claim
	sub, aud, scope string
	org             string
	orgAudience     bool
	clientID        string
	ttl             time.Duration
	claims          claimsFlag
	timeout         time.Duration
}

// claimsFlag is the repeatable -claim name=value, in order.
type claimsFlag []claim

type claim struct {
	name  string
	value any
}

func (c *claimsFlag) String() string { return fmt.Sprint(len(*c), " claims") }

// Set reads name=value; value is JSON when it parses as JSON, else a
// string.
func (c *claimsFlag) Set(v string) error {
	name, raw, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("want name=value")
	}
	var value any = raw
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var j any
	if err := dec.Decode(&j); err == nil && dec.Decode(&struct{}{}) == io.EOF {
		value = j
	}
	*c = append(*c, claim{name, value})
	return nil
}

func parseMintFlags(args []string, stderr io.Writer) (*mintConfig, error) {
	c := &mintConfig{}
	fs := flag.NewFlagSet("mint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), `Usage: grpcjwt-issuer mint (-issuer URL | -key-file FILE -iss URL) [-sub S] [-aud A] [-scope "a b"] [-org ID [-org-audience]] [-ttl D] [-claim name=value]...

Prints an access token and a newline on standard output: signed by the
running "grpcjwt-issuer serve" at -issuer, or here with the key in -key-file
(a file serve wrote). Its claims are iss, sub, aud, client_id, iat, exp
(iat + -ttl), a random jti, and scope and organization_id when given; a
-claim adds or replaces one (a null value removes it). Its header is alg,
kid and typ at+jwt.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.issuer, "issuer", "", "the `URL` a running serve printed; it signs the token (its /mint endpoint, loopback only)")
	fs.StringVar(&c.keyFile, "key-file", "", "sign here with the private JWK in `file`, as serve -key-file wrote it; needs -iss")
	fs.StringVar(&c.iss, "iss", "", "with -key-file: the iss claim, the `URL` serve printed")
	fs.StringVar(&c.sub, "sub", "user-123", "the subject")
	fs.StringVar(&c.aud, "aud", grpcjwttest.DefaultAudience, "the audience: the API's resource indicator")
	fs.StringVar(&c.scope, "scope", "", "space-separated `scopes`; none when empty")
	fs.StringVar(&c.org, "org", "", "the organization `ID`: an "+grpcjwttest.OrganizationClaim+" claim, as Logto's tokens for an API and an organization")
	fs.BoolVar(&c.orgAudience, "org-audience", false, "with -org: a Logto organization token instead, whose aud is "+grpcjwttest.OrganizationAudiencePrefix+"<ID> (in place of -aud)")
	fs.StringVar(&c.clientID, "client-id", "test-client", "the client_id claim")
	fs.DurationVar(&c.ttl, "ttl", time.Hour, "the token's lifetime, exp - iat; negative for an expired token")
	fs.Var(&c.claims, "claim", "add or replace a claim: `name=value`, value as JSON if it is JSON (42, true, [\"a\"], {\"k\":1}, null to remove the claim), else a string; repeatable")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "with -issuer: how long to wait for it")
	err := parseFlags(fs, args, func() []string {
		var problems []string
		switch {
		case c.issuer == "" && c.keyFile == "":
			problems = append(problems, "give -issuer (a running serve signs) or -key-file (sign here)")
		case c.issuer != "" && c.keyFile != "":
			problems = append(problems, "give -issuer or -key-file, not both")
		case c.issuer != "":
			if u, err := url.Parse(c.issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				problems = append(problems, fmt.Sprintf("-issuer %q: want the http(s) URL serve printed", c.issuer))
			}
			if c.iss != "" {
				problems = append(problems, "-iss is for -key-file; with -issuer the token's iss is that issuer")
			}
		case c.iss == "":
			problems = append(problems, "-key-file needs -iss, the issuer URL serve printed")
		}
		if c.orgAudience && c.org == "" {
			problems = append(problems, "-org-audience needs -org")
		}
		if c.orgAudience && isSet(fs, "aud") {
			problems = append(problems, "-org-audience sets the audience; drop -aud")
		}
		if c.timeout <= 0 {
			problems = append(problems, "-timeout must be positive")
		}
		return problems
	})
	return c, err
}

func runMint(args []string, stdout, stderr io.Writer) int {
	c, err := parseMintFlags(args, stderr)
	if err != nil {
		return usageExit("mint", err, stderr)
	}
	token, err := mint(c, time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "grpcjwt-issuer mint: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
	return 0
}

// claimsOf returns the token's claims but iss; a nil value is a claim to
// remove.
func claimsOf(c *mintConfig, now time.Time) map[string]any {
	claims := map[string]any{
		"sub":       c.sub,
		"aud":       c.aud,
		"client_id": c.clientID,
		"iat":       now.Unix(),
		"exp":       now.Add(c.ttl).Unix(),
		"jti":       randomID(),
	}
	if c.scope != "" {
		claims["scope"] = c.scope
	}
	switch {
	case c.orgAudience:
		claims["aud"] = grpcjwttest.OrganizationAudiencePrefix + c.org
	case c.org != "":
		claims[grpcjwttest.OrganizationClaim] = c.org
	}
	for _, cl := range c.claims {
		claims[cl.name] = cl.value
	}
	return claims
}

// mint returns the token: signed by the issuer at c.issuer, or with the
// key in c.keyFile.
func mint(c *mintConfig, now time.Time) (string, error) {
	claims := claimsOf(c, now)
	if c.issuer != "" {
		return mintRemote(c.issuer, claims, c.timeout)
	}
	k, err := readKeyFile(c.keyFile)
	if err != nil {
		return "", err
	}
	if _, given := claims["iss"]; !given {
		claims["iss"] = c.iss
	}
	for name, v := range claims {
		if v == nil {
			delete(claims, name)
		}
	}
	return k.Sign(map[string]any{"alg": k.Alg, "kid": k.KID, "typ": "at+jwt"}, claims)
}

// mintRemote asks the serve at issuer to sign claims.
func mintRemote(issuer string, claims map[string]any, timeout time.Duration) (string, error) {
	body, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	u := strings.TrimSuffix(issuer, "/") + "/mint"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("is grpcjwt-issuer serve running at %s? %w", issuer, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", u, err)
	}
	text := strings.TrimSpace(string(b))
	switch {
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return "", fmt.Errorf("POST %s: %s: is %s a grpcjwt-issuer serve's URL?", u, resp.Status, issuer)
	case resp.StatusCode != http.StatusOK:
		return "", fmt.Errorf("POST %s: %s: %s", u, resp.Status, text)
	case strings.Count(text, ".") != 2 || strings.ContainsAny(text, " \n"):
		return "", fmt.Errorf("POST %s: the response is not a token: %.80q", u, text)
	}
	return text, nil
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
