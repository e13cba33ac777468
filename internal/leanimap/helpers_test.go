package leanimap

import "errors"

func errorAs[T error](err error, target *T) bool { return errors.As(err, target) }

func errorIs(err, target error) bool { return errors.Is(err, target) }
