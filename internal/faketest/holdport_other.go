//go:build !unix

package faketest

import (
	"errors"
	"io"
)

// HoldPort holds no port where no socket can be bound without listening
// (not unix): it returns errors.ErrUnsupported.
func HoldPort(addr string, reuse bool) (string, io.Closer, error) {
	return "", nil, errors.ErrUnsupported
}
