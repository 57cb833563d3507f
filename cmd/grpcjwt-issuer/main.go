// Command grpcjwt-issuer runs a local OpenID Connect issuer and mints
// access tokens it signs, so that a server protected by grpcjwt can be
// tried, and tested from scripts, without an identity provider. It is
// package grpcjwttest's issuer as a process.
//
//	go install github.com/grpcjwt/grpcjwt/cmd/grpcjwt-issuer@latest
//
// serve runs the issuer: OIDC discovery at
// <issuer>/.well-known/openid-configuration, its JWKS at <issuer>/jwks, a
// token endpoint for the client_credentials grant at <issuer>/token, and
// <issuer>/mint, which signs any claims for the mint command. It prints
// the issuer URL, and nothing else, as one line on standard output once it
// serves (the actual port even for port 0), logs to standard error, and
// runs until SIGINT or SIGTERM, when it exits 0:
//
//	grpcjwt-issuer serve -addr 127.0.0.1:8081 -alg ES256 -key-file issuer-key.json -client m2m:s3cret
//
// mint prints an access token and a newline on standard output, signed by
// a running serve (-issuer) or, offline, with the key of a key file that
// serve wrote (-key-file, with -iss):
//
//	grpcjwt-issuer mint -issuer http://127.0.0.1:8081/oidc -sub alice -scope "greet:read greet:write"
//	grpcjwt-issuer mint -key-file issuer-key.json -iss http://127.0.0.1:8081/oidc -sub alice -org acme -ttl 10m
//
// The key file is the signing key as a JWK with its private members (the
// form node-oidc-provider keeps keys in), written by serve with mode 0600
// when it does not exist and read when it does, so that tokens minted
// offline, and the issuer's keys, survive a restart.
//
// Usage errors exit 2, other failures 1. "grpcjwt-issuer <command> -h"
// lists a command's flags. This issuer is for tests and demos: /mint signs
// whatever a local process asks for, and the token endpoint whatever a
// registered client does. Neither answers a web page, whether it calls
// across sites or through DNS rebinding: a request to them must name the
// server by an IP address, localhost or the -base-url host, and come from
// no other origin; /mint takes only application/json.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `Usage: grpcjwt-issuer <command> [flags]

A local OpenID Connect issuer, and tokens signed by it, to try or test a
server protected by grpcjwt without an identity provider.

Commands:
  serve   run the issuer (discovery, JWKS, token endpoint) until SIGINT or SIGTERM;
          print its URL on standard output once serving
  mint    print an access token signed by a running serve, or with a key file

Run "grpcjwt-issuer <command> -h" for a command's flags.
`

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return runServe(args[1:], stdout, stderr)
	case "mint":
		return runMint(args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return 0
	}
	fmt.Fprintf(stderr, "grpcjwt-issuer: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// errReported is a usage error already printed by the flag package.
var errReported = errors.New("usage error")

// parseFlags parses args with fs and then runs check, which returns the
// problems with the flags' values. Its error is flag.ErrHelp, errReported,
// or the problems to report with [usageExit].
func parseFlags(fs *flag.FlagSet, args []string, check func() []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errReported
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	problems = append(problems, check()...)
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// usageExit reports an error of parseFlags for command and returns the
// exit status: 0 for -h, else 2.
func usageExit(command string, err error, stderr io.Writer) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errReported):
		return 2
	}
	fmt.Fprintf(stderr, "grpcjwt-issuer %s: %v\nRun \"grpcjwt-issuer %s -h\" for usage.\n", command, err, command)
	return 2
}

// isSet reports whether the flag called name was given on the command
// line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
