package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/grpcjwt/grpcjwt/grpcjwttest"
)

// readKeyFile returns the signing key in the private JWK file at path.
func readKeyFile(path string) (*grpcjwttest.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the key file: %w", err)
	}
	k, err := grpcjwttest.ParsePrivateJWK(b)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// loadOrCreateKey returns the key in the file at path, or, when there is
// none, a new key for alg that it writes there with mode 0600. created
// says which.
func loadOrCreateKey(path, alg string) (k *grpcjwttest.Key, created bool, err error) {
	k, err = readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	k, err = grpcjwttest.NewKey(alg)
	if err != nil {
		return nil, false, err
	}
	b, err := k.MarshalPrivateJWK()
	if err != nil {
		return nil, false, err
	}
	// O_EXCL: never overwrite a key another process wrote meanwhile.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("writing the key file: %w", err)
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return nil, false, fmt.Errorf("writing the key file: %w", err)
	}
	return k, true, nil
}
