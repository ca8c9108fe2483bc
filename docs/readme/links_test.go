package readme

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// A link is a relative link of a Markdown page: an inline link or image,
// [text](target) or ![alt](target), or a reference definition,
// [name]: target.
type link struct {
	line   int
	target string
}

var (
	// fenceRE opens or closes a fenced code block.
	fenceRE = regexp.MustCompile("^ {0,3}(```|~~~)")
	// codeSpanRE is an inline code span, whose text is no link.
	codeSpanRE = regexp.MustCompile("(`+)[^`].*?(`+)")
	// inlineRE is an inline link or image: the target, and a title after
	// it, as in [text](target "title").
	inlineRE = regexp.MustCompile(`\]\(\s*(<[^>]*>|[^\s)]*)(\s+"[^"]*")?\s*\)`)
	// refDefRE is a reference definition.
	refDefRE = regexp.MustCompile(`^ {0,3}\[[^\]]+\]:\s*(\S+)`)
	// atxRE is an ATX heading, its closing #s left out.
	atxRE = regexp.MustCompile(`^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$`)
	// setextRE underlines a setext heading.
	setextRE = regexp.MustCompile(`^ {0,3}(=+|-+)\s*$`)
	// htmlAnchorRE is an anchor a page sets in HTML.
	htmlAnchorRE = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	// schemeRE starts an absolute URL (https:, mailto:).
	schemeRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
	// lineAnchorRE is GitHub's anchor of a line or lines of a file.
	lineAnchorRE = regexp.MustCompile(`^L[0-9]+(-L[0-9]+)?$`)
)

// pageLinks returns the links of a Markdown text, outside code blocks and
// code spans, and its anchors: the slug of each heading, as GitHub makes
// them, and the anchors set in HTML.
func pageLinks(text string) (links []link, anchors map[string]bool) {
	anchors = map[string]bool{}
	seen := map[string]int{}
	heading := func(h string) {
		s := slug(h)
		if n := seen[s]; n > 0 {
			anchors[fmt.Sprintf("%s-%d", s, n)] = true
		} else {
			anchors[s] = true
		}
		seen[s]++
	}
	lines := strings.Split(text, "\n")
	inFence := false
	for i, l := range lines {
		if fenceRE.MatchString(l) {
			inFence = !inFence
			continue
		}
		if inFence {
			continue
		}
		for _, m := range htmlAnchorRE.FindAllStringSubmatch(l, -1) {
			anchors[m[1]] = true
		}
		if m := atxRE.FindStringSubmatch(l); m != nil {
			heading(m[1])
		} else if i+1 < len(lines) && strings.TrimSpace(l) != "" && setextRE.MatchString(lines[i+1]) &&
			!strings.HasPrefix(strings.TrimSpace(l), "|") && !strings.HasPrefix(strings.TrimSpace(l), "- ") {
			heading(l)
		}
		plain := codeSpanRE.ReplaceAllString(l, "")
		for _, m := range inlineRE.FindAllStringSubmatch(plain, -1) {
			links = append(links, link{i + 1, strings.Trim(m[1], "<>")})
		}
		if m := refDefRE.FindStringSubmatch(plain); m != nil {
			links = append(links, link{i + 1, strings.Trim(m[1], "<>")})
		}
	}
	return links, anchors
}

var (
	// mdLinkRE is a link or an image in a heading, whose text stays.
	mdLinkRE = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	// htmlTagRE is a tag in a heading, which GitHub drops.
	htmlTagRE = regexp.MustCompile(`<[^>]+>`)
	// emphasisRE is emphasis around a heading's words (the text stays).
	emphasisRE = regexp.MustCompile(`(\*{1,3}|\b_{1,3})([^*_]+?)(\*{1,3}|_{1,3}\b)`)
)

// slug is the anchor GitHub gives a heading (github-slugger's rule on the
// heading's text): the text as rendered — code spans without their
// backticks, links and emphasis without their markup — in lower case, with
// every character that is not a letter, a digit, a mark, a connector such
// as '_', a hyphen or a space dropped, and each space made a hyphen.
// Repeated headings get -1, -2, … after the first (pageLinks adds those).
func slug(heading string) string {
	text := mdLinkRE.ReplaceAllString(heading, "$1")
	text = htmlTagRE.ReplaceAllString(text, "")
	// Emphasis markup goes, but not an underscore inside a code span, as
	// in `expires_at`: take the spans out first.
	var parts []string
	rest := text
	for {
		loc := codeSpanRE.FindStringIndex(rest)
		if loc == nil {
			parts = append(parts, emphasisRE.ReplaceAllString(rest, "$2"))
			break
		}
		parts = append(parts, emphasisRE.ReplaceAllString(rest[:loc[0]], "$2"))
		parts = append(parts, strings.Trim(rest[loc[0]:loc[1]], "`"))
		rest = rest[loc[1]:]
	}
	text = strings.TrimSpace(strings.Join(parts, ""))
	var b strings.Builder
	for _, r := range strings.ToLower(text) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-', unicode.IsLetter(r), unicode.IsNumber(r), unicode.IsMark(r), unicode.Is(unicode.Pc, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// brokenLinks returns a message for each relative link of page (a path
// relative to root, with slashes) whose file or directory does not exist
// in root, or whose #anchor is no heading or HTML anchor of the Markdown
// page it names. Absolute URLs are not followed; an anchor of a file
// other than a Markdown page may only be a line's (#L10, #L10-L20).
func brokenLinks(root, page string) ([]string, error) {
	text, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(page)))
	if err != nil {
		return nil, err
	}
	links, anchors := pageLinks(string(text))
	pageAnchors := map[string]map[string]bool{page: anchors}
	var broken []string
	for _, l := range links {
		if l.target == "" || schemeRE.MatchString(l.target) || strings.HasPrefix(l.target, "//") {
			continue
		}
		target, frag, _ := strings.Cut(l.target, "#")
		name := page
		if target != "" {
			if strings.HasPrefix(target, "/") {
				broken = append(broken, fmt.Sprintf("%s:%d: %s: a link from the site's root, not relative to the page", page, l.line, l.target))
				continue
			}
			name = path.Clean(path.Join(path.Dir(page), target))
			if name == ".." || strings.HasPrefix(name, "../") {
				broken = append(broken, fmt.Sprintf("%s:%d: %s: outside the repository", page, l.line, l.target))
				continue
			}
			if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(name))); err != nil {
				broken = append(broken, fmt.Sprintf("%s:%d: %s: no such file or directory (%s)", page, l.line, l.target, name))
				continue
			}
		}
		if frag == "" {
			continue
		}
		if !strings.HasSuffix(name, ".md") {
			if !lineAnchorRE.MatchString(frag) {
				broken = append(broken, fmt.Sprintf("%s:%d: %s: #%s in a file that is not a Markdown page", page, l.line, l.target, frag))
			}
			continue
		}
		a, ok := pageAnchors[name]
		if !ok {
			b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(name)))
			if err != nil {
				return nil, err
			}
			_, a = pageLinks(string(b))
			pageAnchors[name] = a
		}
		if !a[frag] {
			broken = append(broken, fmt.Sprintf("%s:%d: %s: %s has no heading or anchor #%s", page, l.line, l.target, name, frag))
		}
	}
	return broken, nil
}

// TestLinksResolve: every relative link of README.md and of the pages
// under docs/ (docs/*.md), images included, names a file or directory of
// the repository, and every #anchor a heading (by GitHub's rule) or an
// HTML anchor of the page it names. The other pages a reader reaches from
// them (RELEASING.md, SECURITY.md, CHANGELOG.md, integration/README.md)
// are held to the same.
func TestLinksResolve(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := markdownPages(root)
	if err != nil {
		t.Fatal(err)
	}
	pages = append(pages, "RELEASING.md", "SECURITY.md", "CHANGELOG.md", "integration/README.md")
	n := 0
	for _, page := range pages {
		broken, err := brokenLinks(root, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range broken {
			t.Error(b)
		}
		text, err := os.ReadFile(filepath.Join(root, page))
		if err != nil {
			t.Fatal(err)
		}
		links, _ := pageLinks(string(text))
		n += len(links)
	}
	if n < 20 {
		t.Errorf("%d links in %d pages: the extraction is broken", n, len(pages))
	}
}

// TestBrokenLinksFound: the checker reports a missing file, a missing
// anchor of another page and of the page itself, a link out of the
// repository and an anchor in a source file, and passes what resolves:
// headings with code, punctuation, links and emphasis, a repeated heading,
// an HTML anchor, a line anchor, a directory, links in code left alone.
func TestBrokenLinksFound(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"README.md": "# Top\n\n" +
			"[ok](docs/page.md) [ok](docs/page.md#expires_at-is-when-to-ask-again-not-the-tokens-expiry)\n" +
			"[ok](#top) [ok](#top-1) [ok](#usage-1) [ok](src) [ok](src/a.go#L3) ![ok](docs/p.svg \"a picture\")\n" +
			"[ok](https://example.com/x#y) [ok](mailto:a@example.com) `[code](missing.md)`\n" +
			"[bad](docs/missing.md) [bad](docs/page.md#no-such-heading) [bad](#nowhere)\n" +
			"[bad](../outside.md) [bad](src/a.go#main) [bad](/README.md)\n\n" +
			"```\n[code](missing.md)\n```\n\n" +
			"## Usage\n\n## Usage\n\n# Top\n\n[ref]: docs/gone.md\n",
		"docs/page.md": "# Page\n\n## `expires_at` is when to ask again, not the token's expiry\n\n" +
			"## Running a scenario through the runtime: `authfsm conform`\n\n" +
			"## Extensions: processes sharing one token family, fallback, throttle\n\n" +
			"## A [linked](page.md) *emphasised* **title**\n\nSetext\n---\n\n<a name=\"custom\"></a>\n\n" +
			"[ok](../README.md#top) [ok](#running-a-scenario-through-the-runtime-authfsm-conform)\n" +
			"[ok](#extensions-processes-sharing-one-token-family-fallback-throttle) [ok](#a-linked-emphasised-title)\n" +
			"[ok](#setext) [ok](#custom) [ok](p.svg)\n",
		"docs/p.svg": "<svg/>",
		"src/a.go":   "package a\n",
	}
	for name, text := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, page := range []string{"README.md", "docs/page.md"} {
		broken, err := brokenLinks(root, page)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, broken...)
	}
	want := []string{
		"README.md:6: docs/missing.md: no such file or directory (docs/missing.md)",
		"README.md:6: docs/page.md#no-such-heading: docs/page.md has no heading or anchor #no-such-heading",
		"README.md:6: #nowhere: README.md has no heading or anchor #nowhere",
		"README.md:7: ../outside.md: outside the repository",
		"README.md:7: src/a.go#main: #main in a file that is not a Markdown page",
		"README.md:7: /README.md: a link from the site's root, not relative to the page",
		"README.md:19: docs/gone.md: no such file or directory (docs/gone.md)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("reported\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSlug: GitHub's anchors of headings the pages hold.
func TestSlug(t *testing.T) {
	for _, c := range []struct{ heading, want string }{
		{"Quick start", "quick-start"},
		{"Clients in any language: the agent", "clients-in-any-language-the-agent"},
		{"`expires_at` is when to ask again, not the token's expiry", "expires_at-is-when-to-ask-again-not-the-tokens-expiry"},
		{"Result (`--json`, one object per scenario file, one per line)", "result---json-one-object-per-scenario-file-one-per-line"},
		{"`server.faults[]`, each item of `server.faults`", "serverfaults-each-item-of-serverfaults"},
		{"Credential helpers: kubectl and git", "credential-helpers-kubectl-and-git"},
		{"Retry policies — pure", "retry-policies--pure"},
		{"Ünïcode café 1.25+", "ünïcode-café-125"},
	} {
		if got := slug(c.heading); got != c.want {
			t.Errorf("slug(%q) = %q, want %q", c.heading, got, c.want)
		}
	}
}
