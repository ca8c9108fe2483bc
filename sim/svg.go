package sim

import (
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/states"
)

// svg is a small writer of deterministic SVG: fixed number formats, no
// maps, so the same picture is byte-identical.
type svg struct{ b strings.Builder }

func (s *svg) open(w, h int) {
	fmt.Fprintf(&s.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&s.b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
}

func (s *svg) rect(x, y, w, h float64, fill string, opacity float64) {
	fmt.Fprintf(&s.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="%.2f"/>`+"\n", x, y, max(w, 0.8), h, fill, opacity)
}

func (s *svg) line(x1, y1, x2, y2 float64, stroke string, width float64, dash bool) {
	d := ""
	if dash {
		d = ` stroke-dasharray="4 3"`
	}
	fmt.Fprintf(&s.b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n", x1, y1, x2, y2, stroke, width, d)
}

func (s *svg) text(x, y float64, anchor, fill, t string) {
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s">%s</text>`+"\n", x, y, anchor, fill, html.EscapeString(t))
}

// small writes t in the picture's smaller type, for notes under a name.
func (s *svg) small(x, y float64, anchor, fill, t string) {
	fmt.Fprintf(&s.b, `<text x="%.1f" y="%.1f" text-anchor="%s" fill="%s" font-size="10">%s</text>`+"\n", x, y, anchor, fill, html.EscapeString(t))
}

// defs writes definitions (a pattern) that fills refer to.
func (s *svg) defs(d string) { s.b.WriteString("<defs>" + d + "</defs>\n") }

// hatched draws a rectangle filled with fill (a colour or a pattern's
// url) and outlined with stroke.
func (s *svg) hatched(x, y, w, h float64, fill, stroke string) {
	fmt.Fprintf(&s.b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s" stroke-width="1"/>`+"\n", x, y, max(w, 0.8), h, fill, stroke)
}

// triangle draws a marker pointing down, h high, its tip at (x, y+h).
func (s *svg) triangle(x, y, h float64, fill string) {
	fmt.Fprintf(&s.b, `<path d="M%.1f,%.1f L%.1f,%.1f L%.1f,%.1f Z" fill="%s"/>`+"\n", x-h/2, y, x+h/2, y, x, y+h, fill)
}

func (s *svg) circle(x, y, r float64, fill string) {
	fmt.Fprintf(&s.b, `<circle cx="%.1f" cy="%.1f" r="%.1f" fill="%s"/>`+"\n", x, y, r, fill)
}

func (s *svg) polygon(pts []float64, fill string) {
	s.b.WriteString(`<polygon points="`)
	for i := 0; i+1 < len(pts); i += 2 {
		if i > 0 {
			s.b.WriteByte(' ')
		}
		fmt.Fprintf(&s.b, "%.1f,%.1f", pts[i], pts[i+1])
	}
	fmt.Fprintf(&s.b, `" fill="%s"/>`+"\n", fill)
}

func (s *svg) close() string { s.b.WriteString("</svg>\n"); return s.b.String() }

// Colours of the states and of attempt outcomes.
var (
	stateColor = [numStates]string{
		states.Valid: "#4caf50", states.Expired: "#9e9e9e", states.Refreshing: "#2196f3",
		states.Backoff: "#ff9800", states.Waiting: "#00acc1", states.Revoked: "#e53935",
		states.NeedsLogin: "#8e24aa", states.LoggingIn: "#ba68c8",
	}
	classColor = map[policy.Class]string{
		policy.OK: "#4caf50", policy.Transient: "#ff9800", policy.RateLimited: "#9c27b0", policy.Permanent: "#e53935",
		policy.Suspect: "#f48fb1",
	}
)

// axis draws a time axis under a plot spanning x0..x1 for d.
func (s *svg) axis(x0, x1, y float64, d time.Duration) {
	s.line(x0, y, x1, y, "#333333", 1, false)
	step := niceStep(d)
	for t := time.Duration(0); ; t += step {
		x := x0 + (x1-x0)*float64(t)/float64(d)
		s.line(x, y, x, y+4, "#333333", 1, false)
		s.text(x, y+17, "middle", "#333333", tickLabel(t, step))
		if t > d-step { // t+step would pass d, or overflow near the longest Duration
			break
		}
	}
}

// niceStep picks a tick interval giving at most about eight ticks.
func niceStep(d time.Duration) time.Duration {
	for _, s := range []time.Duration{
		time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute,
		10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 3 * time.Hour,
		6 * time.Hour, 12 * time.Hour, 24 * time.Hour, 7 * 24 * time.Hour, 30 * 24 * time.Hour,
		60 * day, 120 * day, year, 2 * year, 5 * year, 10 * year, 25 * year, 50 * year,
	} {
		if d/s <= 8 {
			return s
		}
	}
	return d / 8
}

const (
	day  = 24 * time.Hour
	year = 365 * day
)

// tickLabel prints a tick of an axis ticked every step: as shortDuration
// does, and a long axis's ticks in days or years of 365 days (a log's
// records can be centuries apart), where hours would run into each other.
func tickLabel(t, step time.Duration) string {
	switch {
	case step%year == 0:
		return strconv.FormatInt(int64(t/year), 10) + "y"
	case step >= 60*day && step%day == 0:
		return strconv.FormatInt(int64(t/day), 10) + "d"
	}
	return shortDuration(t)
}

// shortDuration prints 1h30m rather than 1h30m0s.
func shortDuration(d fmt.Stringer) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
