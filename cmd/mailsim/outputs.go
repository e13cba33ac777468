package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
)

// writeFile writes a report through write into path, atomically enough: a
// temporary file renamed over path. When path cannot be written (its
// directory went away or became read-only during a long run), the report
// is not lost: it is written to a new file in the system's temporary
// directory, and the error names that file.
func writeFile(path string, write func(io.Writer) error) error {
	err := writeFileAt(path, write)
	if err == nil {
		return nil
	}
	fh, terr := os.CreateTemp("", "mailsim-*-"+filepath.Base(path))
	if terr != nil || writeClose(fh, write) != nil {
		return err
	}
	return fmt.Errorf("%w (saved to %s instead)", err, fh.Name())
}

// writeFileAt is writeFile without the fallback.
func writeFileAt(path string, write func(io.Writer) error) error {
	fh, err := os.Create(path + ".tmp")
	if err != nil {
		return err
	}
	if err := writeClose(fh, write); err != nil {
		return err
	}
	if err := os.Rename(fh.Name(), path); err != nil {
		os.Remove(fh.Name())
		return err
	}
	return nil
}

// writeClose writes through write into fh and closes it; a file that
// could not be written whole is removed.
func writeClose(fh *os.File, write func(io.Writer) error) error {
	err := write(fh)
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(fh.Name())
	}
	return err
}

// checkOutputs tells, before a run or a search spends its time, whether
// the report files named by flags (flag name → path; "" and "-", stdout,
// are not files) can be written: each one's directory must take a new
// file, and the path must not be a directory. It returns one error per
// path that cannot be.
func checkOutputs(flags map[string]string) []error {
	var errs []error
	for _, flag := range slices.Sorted(maps.Keys(flags)) {
		path := flags[flag]
		if path == "" || path == "-" {
			continue
		}
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			errs = append(errs, fmt.Errorf("%s %s: is a directory", flag, path))
			continue
		}
		// The probe is the file writeFile writes first: same directory,
		// same name length. One left by an earlier run is opened, not
		// replaced.
		tmp := path + ".tmp"
		fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		created := err == nil
		if errors.Is(err, fs.ErrExist) {
			fh, err = os.OpenFile(tmp, os.O_WRONLY, 0)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: cannot be written: %w", flag, path, errors.Unwrap(err)))
			continue
		}
		fh.Close()
		if created {
			os.Remove(tmp)
		}
	}
	return errs
}
