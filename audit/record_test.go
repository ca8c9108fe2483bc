package audit_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

// TestRecordJSONRoundTrip checks that a Record decodes from the JSON it
// encodes, so that tools can read an audit log back into Records.
func TestRecordJSONRoundTrip(t *testing.T) {
	chained := sampleRecords()[2]
	chained.Seq, chained.Prev, chained.Hash = 3, strings.Repeat("a", 64), strings.Repeat("b", 64)
	tests := []struct {
		name string
		r    audit.Record
	}{
		{"zero", audit.Record{}},
		{"every event", audit.Record{Seq: 1, Time: t0, From: states.Revoked, To: states.Valid, Event: states.SetToken}},
		{"backoff with next attempt", sampleRecords()[2]},
		{"chained", chained},
		{"note", audit.Record{Seq: 7, Time: t0, Session: "s1", Note: "audit log repaired: 12 bytes of a torn last line removed", Prev: strings.Repeat("c", 64)}},
		{"give up", audit.FromTransition(states.Transition{At: t0, From: states.Refreshing, To: states.Expired, Event: states.GiveUp, Reason: states.ReasonTransient, Detail: "policy gave up", Attempt: 4})},
		{"adopt", audit.FromTransition(states.Transition{At: t0, From: states.Waiting, To: states.Valid, Event: states.Adopt, Reason: states.ReasonAdopted, Generation: 7})},
		{"restarted", audit.Record{Seq: 3, Time: t0, Session: "0", From: states.Valid, To: states.Refreshing, Event: states.RefreshAhead, Attempt: 1, Restarts: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.r)
			if err != nil {
				t.Fatal(err)
			}
			var got audit.Record
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			// cmp compares times with their Equal method: the instant
			// survives, the zone becomes UTC or the encoded offset.
			if !cmp.Equal(tc.r, got) {
				t.Errorf("round trip of %s (-want +got):\n%s", b, cmp.Diff(tc.r, got))
			}
		})
	}
}

// TestRecordCarriesGeneration: an adoption's record carries the family's
// generation of the pair it installed, which conform compares.
func TestRecordCarriesGeneration(t *testing.T) {
	r := audit.FromTransition(states.Transition{At: t0, From: states.Waiting, To: states.Valid, Event: states.Adopt, Reason: states.ReasonAdopted, Generation: 7})
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if r.Generation != 7 || !strings.Contains(string(b), `"generation":7`) {
		t.Errorf("adopt record %s, want generation 7", b)
	}
}

func TestRecordRejectsUnknownEvent(t *testing.T) {
	var r audit.Record
	err := json.Unmarshal([]byte(`{"seq":1,"time":"2026-03-01T11:00:00Z","from":"valid","to":"expired","event":"explode"}`), &r)
	if err == nil || !strings.Contains(err.Error(), `states: unknown event "explode"`) {
		t.Errorf("Unmarshal of an unknown event = %v, want states: unknown event", err)
	}
}

// TestNoteEncoding checks that a note is not encoded as a transition: zero
// From, To and Event would read as "valid" to "valid" on "refresh_ahead".
func TestNoteEncoding(t *testing.T) {
	r := audit.Record{Seq: 3, Time: t0, Note: "audit log repaired: 5 bytes of a torn last line removed", Prev: "p", From: states.Backoff, Cause: "ignored"}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"seq":3,"time":"2026-03-01T12:00:00+01:00","note":"audit log repaired: 5 bytes of a torn last line removed","prev":"p"}`
	if string(b) != want {
		t.Errorf("note encodes as\n%s\nwant\n%s", b, want)
	}
}
