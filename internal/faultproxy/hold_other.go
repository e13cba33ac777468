//go:build !unix

package faultproxy

import (
	"errors"
	"io"
)

// holdPort holds no port where no socket can be bound without listening
// (not unix): SetRefuse(false) listens again on a port nothing held.
func holdPort(string) (io.Closer, error) {
	return nil, errors.ErrUnsupported
}
