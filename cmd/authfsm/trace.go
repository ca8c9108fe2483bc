package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/authfsm/authfsm/audit"
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
func (s *traceSpool) add(rec audit.Record) {
	if s.err != nil {
		return
	}
	s.n++
	if s.enc != nil {
		s.err = s.enc.Encode(rec)
		return
	}
	_, s.err = s.w.WriteString(sim.TraceLine(rec, s.fleet) + "\n")
}

// auditFile writes a run's transitions to a file as a hash-chained audit
// log (sim --audit): the records a runtime session's WithAudit(chain)
// writes, on the run's virtual clock.
type auditFile struct {
	f     *os.File
	w     *bufio.Writer
	chain *audit.ChainWriter
	err   error
}

func newAuditFile(path string) (*auditFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	return &auditFile{f: f, w: w, chain: audit.NewChainWriter(w, audit.Head{})}, nil
}

// add records one transition.
func (a *auditFile) add(rec audit.Record) {
	if a.err == nil {
		a.err = a.chain.Write(rec)
	}
}

// close flushes and closes the file, and returns the first error.
func (a *auditFile) close() error {
	if err := a.w.Flush(); a.err == nil {
		a.err = err
	}
	if err := a.f.Close(); a.err == nil {
		a.err = err
	}
	return a.err
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
