package sim

import "time"

// shrink returns a scenario as small as it can find that still fails:
// it removes faults and workload entries, shortens the run, shrinks the
// fleet and simplifies the client, keeping each change only when fails
// still reports true. Expectations are recomputed (FuzzExpect) for each
// candidate, and each candidate goes through MarshalYAML and Parse, so the
// result is exactly what the written file reproduces.
func shrink(sc *Scenario, fails func(*Scenario) bool) *Scenario {
	cur := sc
	for changed := true; changed; {
		changed = false
		for _, cand := range candidates(cur) {
			fuzzExpect(cand)
			back, err := Parse(cand.File, MarshalYAML(cand))
			if err != nil || !fails(back) {
				continue
			}
			back.Description = cur.Description
			cur, changed = back, true
			break
		}
	}
	return cur
}

// candidates returns simpler variants of sc, most aggressive first.
func candidates(sc *Scenario) []*Scenario {
	var out []*Scenario
	variant := func(edit func(c *Scenario) bool) {
		c := clone(sc)
		if edit(c) {
			out = append(out, c)
		}
	}
	for i := range sc.Server.Faults {
		variant(func(c *Scenario) bool {
			c.Server.Faults = append(c.Server.Faults[:i:i], c.Server.Faults[i+1:]...)
			return true
		})
	}
	for i := range sc.Workload {
		variant(func(c *Scenario) bool {
			c.Workload = append(c.Workload[:i:i], c.Workload[i+1:]...)
			return true
		})
	}
	variant(func(c *Scenario) bool { return shorten(c) })
	variant(func(c *Scenario) bool {
		ch := c.Fleet != Fleet{Sessions: 1}
		c.Fleet, c.Share = Fleet{Sessions: 1}, defaults().Share
		return ch
	})
	variant(func(c *Scenario) bool {
		c.Fleet.Sessions /= 2
		c.Fleet.Families = min(c.Fleet.Families, c.Fleet.Sessions)
		return c.Fleet.Sessions > 0
	})
	variant(func(c *Scenario) bool {
		ch := c.Fleet.Families > 1
		c.Fleet.Families = min(c.Fleet.Families, 1)
		return ch
	})
	variant(func(c *Scenario) bool {
		ch := c.Share.Kind != ShareNone
		c.Share = defaults().Share
		return ch
	})
	variant(func(c *Scenario) bool { ch := c.Session.Fallback; c.Session.Fallback = false; return ch })
	variant(func(c *Scenario) bool { ch := c.Token.ReuseDetection; c.Token.ReuseDetection = false; return ch })
	variant(func(c *Scenario) bool {
		p := &c.Session.Policy
		ch := p.Jitter != 0 || p.MaxAttempts != 0 || p.MaxElapsed != 0
		p.Jitter, p.MaxAttempts, p.MaxElapsed = 0, 0, 0
		return ch
	})
	variant(func(c *Scenario) bool {
		ch := c.ClockSkew != 0 || c.Token.OmitExpiresIn
		c.ClockSkew, c.Token.OmitExpiresIn = 0, false
		return ch
	})
	variant(func(c *Scenario) bool {
		ch := c.Token.Rotate
		c.Token.Rotate, c.Token.ReuseGrace, c.Token.ReuseDetection = false, 0, false
		return ch
	})
	variant(func(c *Scenario) bool { ch := c.Token.RefreshTTL != 0; c.Token.RefreshTTL = 0; return ch })
	variant(func(c *Scenario) bool { ch := c.Session.WaitForRefresh != 0; c.Session.WaitForRefresh = 0; return ch })
	variant(func(c *Scenario) bool { ch := c.Session.RefreshAhead != 0; c.Session.RefreshAhead = 0; return ch })
	return out
}

// shorten halves the run (to a whole minute), if every fault and workload
// entry still starts within it.
func shorten(c *Scenario) bool {
	d := (c.Duration / 2).Truncate(time.Minute)
	if d < time.Minute {
		return false
	}
	for _, f := range c.Server.Faults {
		if f.From >= d {
			return false
		}
	}
	for _, w := range c.Workload {
		if w.From >= d || w.Kind != WorkRequests && w.At >= d {
			return false
		}
	}
	for i := range c.Server.Faults {
		c.Server.Faults[i].To = min(c.Server.Faults[i].To, d)
	}
	for i := range c.Workload {
		c.Workload[i].To = min(c.Workload[i].To, d)
	}
	if c.Fleet.StartSpread >= d {
		c.Fleet.StartSpread = 0
	}
	c.Duration = d
	return true
}

func clone(sc *Scenario) *Scenario {
	c := *sc
	c.Server.Faults = append([]Fault(nil), sc.Server.Faults...)
	c.Workload = append([]Work(nil), sc.Workload...)
	return &c
}
