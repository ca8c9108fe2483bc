// Package audit records why every state change of a session happened.
//
// A Record is one transition of the machine in package states, stamped with
// a sequence number, the session it belongs to and a fingerprint of the
// access token (never the token). The runtime's audit log and the
// simulator's trace are one stream of this one type: package audit reads
// both alike and knows nothing of the simulator.
//
// # Hash-chained logs and what they protect against
//
// ChainWriter writes records as JSON lines, each holding the hash of the
// line before it; Verify checks every link. With plain SHA-256 the chain
// detects accidental corruption (a flipped bit, a torn write, lines of
// another file mixed in) and any edit, removal, insertion or reordering of
// records in the middle of the log by someone who does not recompute the
// hashes after it. It does not stop a forger who can write the file: SHA-256
// needs no secret, so he can rewrite any record and recompute every hash
// from there to the end, or simply cut records off the end. Both leave a
// chain that verifies. Only a head (Head, printed by `authfsm audit
// verify`) kept somewhere the writer's host cannot change, and checked with
// CheckHead or `authfsm audit verify --head`, reveals a truncated or
// rewritten tail.
//
// WithKey replaces SHA-256 with HMAC-SHA256 under a secret key: forging or
// recomputing a record then needs the key, so a reader who can edit the log
// but not read the key cannot rewrite it undetected. Keep the key out of
// reach of everyone who can read or write the log on the writer's host
// (a separate file readable only by the writing service, a secret store),
// and give it to verifiers through another channel.
//
// What the key cannot stop: anyone who holds it (the writer's own process,
// or whoever takes it over) can forge records and rewrite the log. Nor does
// it help against truncation: cutting records off the end leaves a shorter
// chain that still verifies, and deleting the whole file leaves nothing to
// verify at all. An anchored head, such as the final head of a rotated log
// shipped off the host, defeats truncation and any rewrite up to it, even
// by a key holder, because the log must end at exactly that record; records
// written after the last anchor have no such protection.
//
// # Conformance
//
// A chain says whether the log was changed, not whether it is true. Conform
// asks what no hash can: whether the machine of package states could have
// written the log. Every record must be a transition of states.Table, and
// each session's records must chain, each leaving the state the session's
// previous record left it in. A forger who rewrites records and recomputes
// the hashes, or edits a log that was never chained, must keep to the
// table, and Conform names the first record where he did not. It reads
// audit logs, chained or not, whoever wrote them: a runtime's, or the
// simulator's trace, which is this record stream on the run's virtual
// clock (`authfsm sim --audit FILE` writes one, chained); `authfsm audit
// verify` checks both the chain and conformance.
//
// A crash in the middle of a write can leave a torn last line. Writers
// refuse to extend such a log; Repair (or `authfsm audit repair`) removes
// the torn line and appends a chained note saying how many bytes went, and
// repairs nothing else, since a broken link anywhere else is what tampering
// looks like.
package audit
