package sim

import (
	"strconv"
	"testing"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// atOf is the virtual instant of a trace's record as the offset from the
// start of the run: "55m30.004s".
func atOf(e audit.Record) string { return e.Time.Sub(epoch).String() }

// sessionOf is the index of a trace record's session.
func sessionOf(e audit.Record) int {
	i, err := strconv.Atoi(e.Session)
	if err != nil {
		panic("sim: a trace record's session is not an index: " + e.Session)
	}
	return i
}

// TestTraceRecordsAreAuditRecords: a run's trace is the audit record
// stream a runtime session writes, numbered without gaps, each session
// named by its index, times on the run's virtual clock (Epoch plus the
// offset from the start), the next attempt of a failure on it too.
func TestTraceRecordsAreAuditRecords(t *testing.T) {
	sc, err := Load("../testdata/scenarios/429-retry-after.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res := Run(sc, Options{Trace: true})
	if len(res.Trace) == 0 || int64(len(res.Trace)) != res.Stats.Transitions {
		t.Fatalf("%d records for %d transitions", len(res.Trace), res.Stats.Transitions)
	}
	var fails int
	for k, rec := range res.Trace {
		if rec.Seq != uint64(k+1) || rec.Session != "0" || rec.Time.Before(epoch) || rec.Time.After(epoch.Add(sc.Duration)) {
			t.Errorf("record %d: seq %d, session %q, time %v; want seq %d, session 0, a time within the run from %v", k, rec.Seq, rec.Session, rec.Time, k+1, epoch)
		}
		if rec.Event == states.Fail {
			fails++
			if !rec.NextAt.After(rec.Time) {
				t.Errorf("record %d: a failure at %v whose next attempt is at %v", k, rec.Time, rec.NextAt)
			}
		}
		if rec.Cause != rec.Reason.Format("") && rec.Reason != states.ReasonNone && rec.Cause == "" {
			t.Errorf("record %d has a reason and no cause", k)
		}
	}
	if fails == 0 {
		t.Error("the 429s made no failure to check")
	}
}
