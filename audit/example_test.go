package audit_test

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/authfsm/authfsm/audit"
	"github.com/authfsm/authfsm/states"
)

func ExampleChainWriter() {
	var log bytes.Buffer
	w := audit.NewChainWriter(&log, audit.Head{})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.Write(audit.FromTransition(states.Transition{At: at, From: states.Valid, To: states.Expired, Event: states.Expire, Reason: states.ReasonExpired}))
	w.Write(audit.FromTransition(states.Transition{At: at, From: states.Expired, To: states.Refreshing, Event: states.Refresh, Attempt: 1}))

	head, err := audit.Verify(bytes.NewReader(log.Bytes()))
	fmt.Println(head.Seq, err)

	tampered := strings.Replace(log.String(), "access token expired", "nothing to see", 1)
	_, err = audit.Verify(strings.NewReader(tampered))
	fmt.Println(err)
	// Output:
	// 2 <nil>
	// audit: hash chain broken at line 1 (seq 1): hash does not match the record (record altered, or an HMAC-keyed log verified without its key)
}

func ExampleWithKey() {
	key := []byte("kept-off-the-writer's-readers") // in practice: audit.ReadKeyFile
	var log bytes.Buffer
	w := audit.NewChainWriter(&log, audit.Head{}, audit.WithKey(key))
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w.Write(audit.FromTransition(states.Transition{At: at, From: states.Valid, To: states.Expired, Event: states.Expire}))

	_, err := audit.Verify(bytes.NewReader(log.Bytes()), audit.WithKey(key))
	fmt.Println(err)
	_, err = audit.Verify(bytes.NewReader(log.Bytes()), audit.WithKey([]byte("guess")))
	fmt.Println(err)
	// Output:
	// <nil>
	// audit: hash chain broken at line 1 (seq 1): hash does not match the record (record altered, or not the key the log was written with)
}

// A forger rewrites a record and recomputes every hash: the chain verifies,
// but the machine could not have written the log.
func ExampleConform() {
	var log bytes.Buffer
	w := audit.NewChainWriter(&log, audit.Head{})
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, t := range []states.Transition{
		{From: states.Valid, To: states.Expired, Event: states.Expire},
		// The refresh really failed (expired -refresh-> refreshing -fail->
		// backoff); the forger claims the session stayed valid.
		{From: states.Expired, To: states.Valid, Event: states.Succeed},
	} {
		t.At = at
		r := audit.FromTransition(t)
		r.Session = "api"
		w.Write(r)
	}

	_, err := audit.Verify(bytes.NewReader(log.Bytes()))
	fmt.Println(err)
	_, err = audit.Conform(bytes.NewReader(log.Bytes()))
	fmt.Println(err)
	// Output:
	// <nil>
	// audit: line 2, session api: expired -succeed-> valid is not in the table (no succeed from expired)
}
