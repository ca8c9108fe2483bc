package tokenserver

import "time"

// FaultKind names a misbehaviour of the token endpoint.
type FaultKind uint8

const (
	// NoFault answers every token request at once.
	NoFault FaultKind = iota
	// Delay processes the request — a refresh token is rotated — and then
	// holds the answer for Fault.Delay. With a delay longer than the
	// proxy's read timeout the proxy gives up first and the client never
	// learns its new tokens: the answer is lost although the refresh
	// happened.
	Delay
	// Hang accepts the request and never answers it; it is not processed.
	// The handler returns only when the client goes away or the server
	// stops.
	Hang
)

// String names the kind.
func (k FaultKind) String() string {
	switch k {
	case NoFault:
		return "none"
	case Delay:
		return "delay"
	case Hang:
		return "hang"
	}
	return "unknown"
}

// Fault is a misbehaviour applied to the next token requests.
type Fault struct {
	Kind FaultKind
	// Delay is how long a Delay fault holds the answer.
	Delay time.Duration
	// Count is how many token requests the fault applies to; zero means
	// every request until the fault is replaced.
	Count int
}

// SetFault makes the token endpoint misbehave as f describes, replacing any
// earlier fault. SetFault(Fault{}) restores normal service.
func (s *Server) SetFault(f Fault) {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	s.fault = f
}

// takeFault returns the fault that applies to the request arriving now and
// consumes one use of a counted fault.
func (s *Server) takeFault() Fault {
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	f := s.fault
	if f.Kind != NoFault && f.Count > 0 {
		s.fault.Count--
		if s.fault.Count == 0 {
			s.fault = Fault{}
		}
	}
	return f
}
