package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/authfsm/authfsm/sim"
)

// traceSpool holds a run's transitions, as they are made, in a temporary
// file: the trace follows the result (docs/SCENARIOS.md, Limits), which is known
// only at the run's end, and a run of a hundred thousand sessions makes
// millions of transitions, which memory need not hold.
type traceSpool struct {
	f     *os.File
	w     *bufio.Writer
	enc   *json.Encoder // with --json: one JSON line per transition
	fleet bool          // the text lines name the session
	n     int64
	err   error
}

func newTraceSpool(asJSON, fleet bool) (*traceSpool, error) {
	f, err := os.CreateTemp("", "authfsm-trace-*")
	if err != nil {
		return nil, err
	}
	// Unlinked at once where the system allows it: the file goes away with
	// the process, however it ends.
	os.Remove(f.Name())
	s := &traceSpool{f: f, w: bufio.NewWriterSize(f, 1<<20), fleet: fleet}
	if asJSON {
		s.enc = json.NewEncoder(s.w)
	}
	return s, nil
}

// add records one transition.
func (s *traceSpool) add(e sim.TraceEntry) {
	if s.err != nil {
		return
	}
	s.n++
	if s.enc != nil {
		s.err = s.enc.Encode(e)
		return
	}
	_, s.err = s.w.WriteString(e.Line(s.fleet) + "\n")
}

// copyTo writes the transitions to w (the text report's after a title
// line) and removes the file.
func (s *traceSpool) copyTo(w io.Writer) error {
	defer func() {
		s.f.Close()
		os.Remove(s.f.Name())
	}()
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if s.err == nil {
		_, s.err = s.f.Seek(0, io.SeekStart)
	}
	if s.err != nil {
		return fmt.Errorf("the trace's temporary file: %w", s.err)
	}
	if s.enc == nil {
		if s.n == 0 {
			fmt.Fprintln(w, "  trace: no state changes")
			return nil
		}
		fmt.Fprintln(w, "  trace:")
	}
	_, err := io.Copy(w, s.f)
	return err
}
