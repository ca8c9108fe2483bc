package sim

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/authfsm/authfsm/states"
)

// MarshalYAML writes sc as a scenario file that Parse reads back into the
// same scenario. Every key is written, defaults included, so the file says
// everything the run depends on.
func MarshalYAML(sc *Scenario) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "name: %s\n", sc.Name)
	if sc.Description != "" {
		b.WriteString("description: >\n")
		for _, line := range wrap(sc.Description, 96) {
			b.WriteString("  " + line + "\n")
		}
	}
	fmt.Fprintf(&b, "seed: %d\nduration: %v\n", sc.Seed, sc.Duration)
	t := sc.Token
	fmt.Fprintf(&b, "token:\n  ttl: %v\n  refresh_ttl: %v\n  rotate: %t\n  reuse_grace: %v\n  omit_expires_in: %t\n  reuse_detection: %t\n",
		t.TTL, t.RefreshTTL, t.Rotate, t.ReuseGrace, t.OmitExpiresIn, t.ReuseDetection)
	fmt.Fprintf(&b, "clock_skew: %v\n", sc.ClockSkew)
	b.WriteString("session:\n" + sc.Session.YAML("  "))
	fmt.Fprintf(&b, "server:\n  latency: %v\n", sc.Server.Latency)
	if len(sc.Server.Faults) > 0 {
		b.WriteString("  faults:\n")
		for _, f := range sc.Server.Faults {
			when := fmt.Sprintf("from: %v, to: %v", f.From, f.To)
			if f.Instant {
				when = fmt.Sprintf("at: %v", f.From)
			}
			extra := ""
			if f.Kind == FaultStatus {
				extra = fmt.Sprintf(", status: %d", f.Status)
				if f.Error != "" {
					extra += ", error: " + f.Error
				}
				if f.Description != "" {
					extra += ", description: " + strconv.Quote(f.Description) // YAML reads Go's escapes
				}
				if f.RetryAfter > 0 {
					extra += fmt.Sprintf(", retry_after: %v", f.RetryAfter)
				}
			}
			if f.Kind == FaultCrashHolder {
				extra = fmt.Sprintf(", restart: %v", f.Restart)
			}
			fmt.Fprintf(&b, "    - {%s, kind: %v%s}\n", when, f.Kind, extra)
		}
	}
	if len(sc.Workload) > 0 {
		b.WriteString("workload:\n")
		for _, w := range sc.Workload {
			if w.Kind == WorkBurst {
				fmt.Fprintf(&b, "  - {kind: burst, at: %v, count: %d}\n", w.At, w.Count)
				continue
			}
			if w.Kind == WorkLogin {
				fmt.Fprintf(&b, "  - {kind: login, at: %v}\n", w.At)
				continue
			}
			fmt.Fprintf(&b, "  - {kind: requests, every: %v, from: %v, to: %v}\n", w.Every, w.From, w.To)
		}
	}
	f := sc.Fleet
	fmt.Fprintf(&b, "fleet:\n  sessions: %d\n  server_capacity: %d\n  start_spread: %v\n  families: %d\n",
		f.Sessions, f.ServerCapacity, f.StartSpread, f.Families)
	if f.WithoutToken > 0 {
		fmt.Fprintf(&b, "  without_token: %d\n", f.WithoutToken)
	}
	if f.Login != states.LoginNone {
		fmt.Fprintf(&b, "  login: %v\n", f.Login)
	}
	// share is an error without families.
	switch sh := sc.Share; {
	case f.Families > 0 && sh.Kind == ShareStore:
		fmt.Fprintf(&b, "share:\n  kind: store\n  latency: %v\n", sh.Latency) // the lease is the session block's
	case f.Families > 0:
		b.WriteString("share:\n  kind: none\n")
	}
	writeExpect(&b, &sc.Expect)
	return b.Bytes()
}

func writeExpect(b *bytes.Buffer, e *Expect) {
	var lines []string
	if e.FinalState != nil {
		lines = append(lines, "final_state: "+*e.FinalState)
	}
	if e.NeverStates != nil {
		names := make([]string, len(e.NeverStates))
		for i, st := range e.NeverStates {
			names[i] = st.String()
		}
		lines = append(lines, "never_states: ["+strings.Join(names, ", ")+"]")
	}
	if e.MaxFailedRequests != nil {
		lines = append(lines, "max_failed_requests: "+strconv.Itoa(*e.MaxFailedRequests))
	}
	if e.MaxRefreshRequests != nil {
		lines = append(lines, "max_refresh_requests: "+strconv.Itoa(*e.MaxRefreshRequests))
	}
	if e.MaxRecovery != nil {
		lines = append(lines, "max_recovery: "+e.MaxRecovery.String())
	}
	if e.MaxFamilyRevocations != nil {
		lines = append(lines, "max_family_revocations: "+strconv.Itoa(*e.MaxFamilyRevocations))
	}
	if len(lines) == 0 {
		return
	}
	b.WriteString("expect:\n")
	for _, l := range lines {
		b.WriteString("  " + l + "\n")
	}
}

// wrap breaks text into lines of at most width runes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}
