package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authfsm/authfsm/agent"
	"github.com/authfsm/authfsm/conform"
	"github.com/authfsm/authfsm/coordinator/rediscore"
	"github.com/authfsm/authfsm/policy"
	"github.com/authfsm/authfsm/session"
	"github.com/authfsm/authfsm/session/login"
	"github.com/authfsm/authfsm/session/oauth"
	"github.com/authfsm/authfsm/session/ops"
	"github.com/authfsm/authfsm/sim"
	"github.com/authfsm/authfsm/states"
)

// defaults are the values of every exported Default… constant and
// variable of the root module's public packages, as the code has them.
// A new default must be added here (TestDefaultsAreListed says so), and
// TestDocumentedDefaults then holds every statement of it in the docs to
// its value. The nested modules' defaults are evaluated from their source
// (defaultOf): an alias of one of these, or a literal.
var defaults = map[string]any{
	"agent.DefaultAddr":                     agent.DefaultAddr,
	"agent.DefaultGitUsername":              agent.DefaultGitUsername,
	"agent.DefaultMaxIdleConns":             agent.DefaultMaxIdleConns,
	"agent.DefaultMaxReplayBody":            agent.DefaultMaxReplayBody,
	"agent.DefaultShutdownTimeout":          agent.DefaultShutdownTimeout,
	"conform.DefaultStallAfter":             conform.DefaultStallAfter,
	"rediscore.DefaultDialTimeout":          rediscore.DefaultDialTimeout,
	"rediscore.DefaultMaxIdle":              rediscore.DefaultMaxIdle,
	"rediscore.DefaultPollInterval":         rediscore.DefaultPollInterval,
	"rediscore.DefaultSubscriptionIdle":     rediscore.DefaultSubscriptionIdle,
	"rediscore.DefaultTimeout":              rediscore.DefaultTimeout,
	"policy.DefaultClassifier":              nil, // a function: nothing to state
	"policy.DefaultThrottleK":               policy.DefaultThrottleK,
	"policy.DefaultThrottleProbe":           policy.DefaultThrottleProbe,
	"policy.DefaultThrottleWindow":          policy.DefaultThrottleWindow,
	"oauth.DefaultAssertionLifetime":        oauth.DefaultAssertionLifetime,
	"oauth.DefaultDeviceInterval":           oauth.DefaultDeviceInterval,
	"ops.DefaultDurationBuckets":            ops.DefaultDurationBuckets,
	"session.DefaultIdleTimeout":            session.DefaultIdleTimeout,
	"session.DefaultLockTimeout":            session.DefaultLockTimeout,
	"login.DefaultBrowserTimeout":           login.DefaultBrowserTimeout,
	"session.DefaultPoll":                   session.DefaultPoll,
	"oauth.DefaultTTL":                      oauth.DefaultTTL,
	"sim.DefaultLatency":                    sim.DefaultLatency,
	"sim.DefaultMaxEvents":                  sim.DefaultMaxEvents,
	"sim.DefaultSeed":                       sim.DefaultSeed,
	"sim.DefaultStoreLatency":               sim.DefaultStoreLatency,
	"states.DefaultLease":                   states.DefaultLease,
	"states.DefaultMaxRetryAfter":           states.DefaultMaxRetryAfter,
	"states.DefaultRefreshAhead":            states.DefaultRefreshAhead,
	"states.DefaultRequestTimeout":          states.DefaultRequestTimeout,
	"rediscoord.DefaultPollInterval":        nil, // evaluated from the source
	"rediscoord.DefaultSubscriptionIdle":    nil,
	"authfsmprom.DefaultDurationBuckets":    nil,
	"authfsmotel.DefaultDurationBoundaries": nil,
}

// defaultDecl is one exported Default… of a public package: where it is
// defined and the expression it is defined by.
type defaultDecl struct {
	name string // package.Name
	expr ast.Expr
}

// defaultDecls returns every exported Default… constant or variable of the
// public packages, and the documentation that may state them: README.md,
// docs/*.md and the Go comments of those packages, one paragraph or
// comment group each.
func defaultDecls(t *testing.T) ([]defaultDecl, []string) {
	root, dirs := publicDirs(t)
	var decls []defaultDecl
	var texts []string
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		fset := token.NewFileSet()
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if af.Name.Name == "main" || ignored(af) {
				continue
			}
			for _, g := range af.Comments {
				texts = append(texts, g.Text())
			}
			for _, d := range af.Decls {
				g, ok := d.(*ast.GenDecl)
				if !ok || g.Tok != token.CONST && g.Tok != token.VAR {
					continue
				}
				for _, s := range g.Specs {
					vs := s.(*ast.ValueSpec)
					for i, n := range vs.Names {
						if n.IsExported() && strings.HasPrefix(n.Name, "Default") {
							var e ast.Expr
							if i < len(vs.Values) {
								e = vs.Values[i]
							}
							decls = append(decls, defaultDecl{af.Name.Name + "." + n.Name, e})
						}
					}
				}
			}
		}
	}
	docs, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, md := range append(docs, filepath.Join(root, "README.md")) {
		b, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, strings.Split(string(b), "\n\n")...)
	}
	return decls, texts
}

// TestDefaultsAreListed: every exported default of a public package is in
// defaults, with a value, so that TestDocumentedDefaults checks what the
// docs say of it.
func TestDefaultsAreListed(t *testing.T) {
	decls, _ := defaultDecls(t)
	seen := map[string]bool{}
	for _, d := range decls {
		seen[d.name] = true
		if _, ok := defaults[d.name]; !ok {
			t.Errorf("%s is not in defaults: add it, so that the docs are held to its value", d.name)
		}
	}
	for name := range defaults {
		if !seen[name] {
			t.Errorf("defaults lists %s, which no public package defines", name)
		}
	}
}

// defaultOf returns the value of a default: from defaults, or, for one of
// a nested module, by evaluating its definition (an alias of a listed
// default, a copy of one, or a literal).
func defaultOf(d defaultDecl) any {
	if v := defaults[d.name]; v != nil {
		return v
	}
	switch e := d.expr.(type) {
	case *ast.SelectorExpr:
		return defaults[e.X.(*ast.Ident).Name+"."+e.Sel.Name]
	case *ast.CallExpr: // append([]T(nil), pkg.Default...)
		if len(e.Args) == 2 {
			return defaultOf(defaultDecl{expr: e.Args[1]})
		}
	case *ast.CompositeLit:
		var fs []float64
		for _, el := range e.Elts {
			lit, ok := el.(*ast.BasicLit)
			if !ok {
				return nil
			}
			f, err := strconv.ParseFloat(lit.Value, 64)
			if err != nil {
				return nil
			}
			fs = append(fs, f)
		}
		return fs
	}
	return nil
}

// A quantity as prose states it: a Go duration ("1h0m0s", "30s"), or a
// number with an optional unit ("10 s", "5 minutes", "1 MiB", "300
// million"), the number in figures or in words.
var (
	goDuration = regexp.MustCompile(`^(?:\d+(?:\.\d+)?(?:ns|µs|us|ms|s|m|h))+\b`)
	quantity   = regexp.MustCompile(`^(\d+(?:[._,]\d+)*)\s*(nanoseconds?|ms|milliseconds?|s|seconds?|min|minutes?|h|hours?|days?|MiB|KiB|bytes?|million)?\b`)
	inWords    = regexp.MustCompile(`^(zero|one|two|three|four|five|six|seven|eight|nine|ten|thirty|a|an)\s+(nanoseconds?|milliseconds?|seconds?|minutes?|hours?|days?|bytes?|million)\b`)
	numberWord = map[string]float64{"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
		"eight": 8, "nine": 9, "ten": 10, "thirty": 30, "a": 1, "an": 1}
	units = map[string]float64{"nanosecond": 1, "ms": 1e6, "millisecond": 1e6, "s": 1e9, "second": 1e9, "min": 60e9,
		"minute": 60e9, "h": 3600e9, "hour": 3600e9, "day": 86400e9, "MiB": 1 << 20, "KiB": 1 << 10, "byte": 1, "million": 1e6}
)

// parseQuantity reads a quantity at the start of s: its value (in
// nanoseconds for a duration), whether it is a duration, and whether s
// starts with one.
func parseQuantity(s string) (v float64, duration, ok bool) {
	if m := goDuration.FindString(s); m != "" {
		d, err := time.ParseDuration(m)
		return float64(d), true, err == nil
	}
	var n float64
	m := quantity.FindStringSubmatch(s)
	if m != nil {
		f, err := strconv.ParseFloat(strings.NewReplacer("_", "", ",", "").Replace(m[1]), 64)
		if err != nil {
			return 0, false, false
		}
		n = f
	} else if m = inWords.FindStringSubmatch(s); m != nil {
		n = numberWord[m[1]]
	} else {
		return 0, false, false
	}
	unit := strings.TrimSuffix(m[2], "s")
	if m[2] == "s" || m[2] == "ms" {
		unit = m[2]
	}
	if unit == "" {
		return n, false, true
	}
	u := units[unit]
	dur := u >= 1e6 && unit != "million" && unit != "MiB" && unit != "KiB"
	return n * u, dur, true
}

// matches reports whether a stated quantity is the value v.
func matches(v any, q float64, duration bool) bool {
	switch v := v.(type) {
	case time.Duration:
		return duration && math.Abs(q-float64(v)) < 0.5
	case int:
		return !duration && q == float64(v)
	case float64:
		return !duration && q == v
	}
	return true // nothing comparable to state
}

// statements returns the quantities that text states as the default of
// the setting name: after "default" (or "the default is", "default:"), or
// before "by default". In a doc comment that opens with the name (Go's
// convention: the declaration's own) the whole comment is about it;
// elsewhere, the clause that follows a mention of it.
func statements(text, name string) []string {
	flat := strings.Join(strings.Fields(text), " ")
	_, short, _ := strings.Cut(name, ".")
	if short == "" {
		short = name
	}
	if strings.HasPrefix(short, "With") && strings.HasPrefix(flat, name+" ") {
		return stated(flat)
	}
	var out []string
	for from := 0; ; {
		i := strings.Index(flat[from:], name)
		if i < 0 {
			return out
		}
		start, at := from+i, from+i+len(name)
		from = at
		if at < len(flat) && isWord(flat[at]) || start > 0 && isWord(flat[start-1]) {
			continue // part of a longer name
		}
		clause := flat[at:min(len(flat), at+160)]
		// The clause is the mention's until another setting is named.
		if k := otherSetting.FindStringIndex(strings.TrimPrefix(clause, "`")); k != nil {
			clause = clause[:k[0]+len(clause)-len(strings.TrimPrefix(clause, "`"))]
		}
		if strings.HasPrefix(short, "Default") {
			// "`session.DefaultLockTimeout`, 10 s", "DefaultLease (30 s)":
			// the constant, then its value.
			next := strings.TrimLeft(clause, "`")
			for _, sep := range []string{", ", " ("} {
				if v, ok := strings.CutPrefix(next, sep); ok {
					if hasUnit(v) {
						out = append(out, v)
					}
				}
			}
		}
		if end := strings.IndexAny(clause, ";"); end >= 0 {
			clause = clause[:end]
		}
		if end := strings.Index(clause, ". "); end >= 0 {
			clause = clause[:end]
		}
		out = append(out, stated(clause)...)
	}
}

// stated returns the quantities text states as a default.
func stated(text string) []string {
	var out []string
	for _, m := range defaultWord.FindAllStringIndex(text, -1) {
		rest := strings.TrimLeft(text[m[1]:], " ,:(`")
		rest = strings.TrimPrefix(rest, "is ")
		// "The default is states.DefaultRefreshAhead, 5 minutes": a name,
		// then its value.
		if j := strings.Index(rest, ", "); j > 0 && j < 40 && !strings.ContainsAny(rest[:j], " ") {
			if _, _, ok := parseQuantity(rest); !ok {
				rest = rest[j+2:]
			}
		}
		rest = strings.TrimLeft(rest, "`")
		if _, _, ok := parseQuantity(rest); ok {
			out = append(out, rest)
		}
	}
	for k := 0; ; {
		j := strings.Index(text[k:], " by default")
		if j < 0 {
			return out
		}
		before := text[:k+j]
		k += j + 1
		if i := strings.LastIndexAny(before, ",(`"); i >= 0 {
			before = before[i+1:]
		}
		before = strings.TrimLeft(before, " `")
		if _, _, ok := parseQuantity(before); ok {
			out = append(out, before)
		}
	}
}

var defaultWord = regexp.MustCompile(`\b[Dd]efault\b`)

// otherSetting is the name of another setting in prose: a YAML key, an
// option, a default, a name in a code span.
var otherSetting = regexp.MustCompile("\\b[a-z]+_[a-z_]+\\b|\\bWith[A-Z]\\w*|\\bDefault[A-Z]\\w*|`")

// hasUnit reports whether s starts with a quantity that has a unit: a
// constant's value written after its name, where a bare number would be
// something else (an argument).
func hasUnit(s string) bool {
	if goDuration.MatchString(s) {
		return true
	}
	if inWords.MatchString(s) {
		return true
	}
	m := quantity.FindStringSubmatch(s)
	return m != nil && m[2] != ""
}

func isWord(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// settings maps a default to the names a text may give it: its own,
// qualified or not, and the option or field that it is the default of.
func settings(name string) []string {
	pkg, short, _ := strings.Cut(name, ".")
	names := []string{name, short}
	what := strings.TrimPrefix(short, "Default")
	if what != "" && pkg != "sim" {
		names = append(names, "With"+what)
	}
	return names
}

// TestDocumentedDefaults: wherever the docs — README.md, docs/*.md, the
// comments of every public package — state the default of a setting they
// name (a Default… constant, or the With… option it is the default of),
// the stated value is the code's.
func TestDocumentedDefaults(t *testing.T) {
	decls, texts := defaultDecls(t)
	checked := 0
	for _, d := range decls {
		v := defaultOf(d)
		for _, name := range settings(d.name) {
			for _, text := range texts {
				for _, stated := range statements(text, name) {
					q, dur, _ := parseQuantity(stated)
					checked++
					if testing.Verbose() {
						t.Logf("%s: %q", name, stated[:min(len(stated), 40)])
					}
					if !matches(v, q, dur) {
						cut := stated[:min(len(stated), 40)]
						t.Errorf("a text about %s states the default %q; the code's %s is %v", name, cut, d.name, v)
					}
				}
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d statements of a default found; the scan is broken", checked)
	}
	t.Logf("%d statements of %d defaults checked", checked, len(decls))
}

// TestStatements: the scan finds what prose states and ignores what it
// does not.
func TestStatements(t *testing.T) {
	for _, tc := range []struct {
		text, name string
		want       []string
	}{
		{"a lock file's wait at most `session.DefaultLockTimeout`, 10 s, and", "session.DefaultLockTimeout", []string{"10 s, and"}},
		{"DefaultShutdownTimeout bounds a shutdown: long enough for a refresh (request_timeout, 10 s by default).", "DefaultShutdownTimeout", nil},
		// A doc comment, the declaration's own: all of it.
		{"WithRefreshAhead starts refreshing d before expiry.\nThe default, 0, refreshes at expiry.", "WithRefreshAhead", []string{"0, refreshes at expiry."}},
		{"WithRefreshAhead sets the margin. The default is states.DefaultRefreshAhead, 5 minutes; 0 refreshes at expiry.", "WithRefreshAhead", []string{"5 minutes; 0 refreshes at expiry."}},
		// Prose: the clause after a mention.
		{"The margin (`WithRefreshAhead`, default 5m) hides outages. The default, 0, is bad.", "WithRefreshAhead", []string{"5m) hides outages"}},
		{"The default, 0, refreshes at expiry (WithRefreshAhead).", "WithRefreshAhead", nil},
		{"WithLease sets the lease, 30 s by default.", "WithLease", []string{"30 s"}},
		{"WithFailFast sets what Token does: fail at once (true, the default) or wait.", "WithFailFast", nil},
		{"The lease (`WithLease`, 30 s by default, never less than the timeout)", "WithLease", []string{"30 s"}},
		{"WithRequestTimeout sets the deadline (default DefaultRequestTimeout).", "WithRequestTimeout", nil},
		{"A session refreshes `states.DefaultRefreshAhead` (5 minutes, the default) ahead.", "states.DefaultRefreshAhead", []string{"5 minutes, the default) ahead."}},
		{"zero means LeaseTTL(DefaultLease, 0).", "DefaultLease", nil},
	} {
		got := statements(tc.text, tc.name)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("statements(%q, %s) = %q, want %q", tc.text, tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		s    string
		v    float64
		dur  bool
		isOK bool
	}{
		{"5 minutes", 5 * 60e9, true, true}, {"30 s by", 30e9, true, true}, {"10s)", 10e9, true, true}, {"1h0m0s", 3600e9, true, true},
		{"1 MiB", 1 << 20, false, true}, {"300 million", 3e8, false, true}, {"ten seconds", 10e9, true, true}, {"0,", 0, false, true},
		{"a random seed", 0, false, false}, {"policy.Default()", 0, false, false}, {"as contrib does", 0, false, false},
		{"a minute", 60e9, true, true},
	} {
		v, dur, ok := parseQuantity(tc.s)
		if ok != tc.isOK || ok && (v != tc.v || dur != tc.dur) {
			t.Errorf("parseQuantity(%q) = %v, %v, %v; want %v, %v, %v", tc.s, v, dur, ok, tc.v, tc.dur, tc.isOK)
		}
	}
}
