package report

import (
	"encoding/json"
	"fmt"
	"io"
)

// WriteJSON writes the JSON report, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("report: write json: %w", err)
	}
	return nil
}

// ReadJSON reads a JSON report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	dec := json.NewDecoder(rd)
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("report: read json: %w", err)
	}
	if r.Scenario == "" && r.Users == 0 && r.Commands == nil {
		return nil, fmt.Errorf("report: read json: not a mailsim report (no scenario, users or commands)")
	}
	if r.Server.StorageSource == "" {
		// Reports of earlier versions wrote the server's own count (0 on
		// a real server, which they could not read) and no source.
		r.Server.StorageSource = StorageServer
		if _, _, ok := r.Server.Storage(); !ok {
			r.Server.StorageSource = StorageUnknown
		}
	}
	return &r, nil
}
