package core

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// topicMatcher decides which topics a subscription reads, with kafkaesk's
// rules: the topic prefix is prepended to the pattern; a pattern holding
// "*" is matched fnmatch-style against whole topic names ("*" spans dots,
// "?" and "[...]" as in fnmatch); a pattern without "*" is one exact topic,
// even if it holds "?" or "[". A list of streams matches exactly those.
type topicMatcher struct {
	exact map[string]bool // nil for a pattern
	re    *regexp.Regexp  // nil for exact topics
	desc  string          // for errors and logs
}

func newPatternMatcher(prefix, pattern string) (*topicMatcher, error) {
	full := prefix + pattern
	if !strings.Contains(pattern, "*") {
		return &topicMatcher{exact: map[string]bool{full: true}, desc: full}, nil
	}
	re, err := regexp.Compile(translateFnmatch(full))
	if err != nil {
		return nil, err
	}
	return &topicMatcher{re: re, desc: full}, nil
}

func newTopicsMatcher(prefix string, streams []string) *topicMatcher {
	m := &topicMatcher{exact: map[string]bool{}}
	var names []string
	for _, s := range streams {
		m.exact[prefix+s] = true
		names = append(names, prefix+s)
	}
	m.desc = strings.Join(names, ",")
	return m
}

// match returns the names among topics that the subscription reads,
// sorted. Internal topics (named "__...") are never matched.
func (m *topicMatcher) match(topics []string) []string {
	var out []string
	for _, t := range topics {
		if strings.HasPrefix(t, "__") {
			continue
		}
		if m.exact != nil && m.exact[t] || m.re != nil && m.re.MatchString(t) {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// translateFnmatch turns a shell pattern into an anchored regular
// expression, as Python's fnmatch.translate does.
func translateFnmatch(pattern string) string {
	var b strings.Builder
	b.WriteString(`\A(?s:`)
	rs := []rune(pattern)
	for i := 0; i < len(rs); i++ {
		switch c := rs[i]; c {
		case '*':
			b.WriteString(`.*`)
			for i+1 < len(rs) && rs[i+1] == '*' {
				i++
			}
		case '?':
			b.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(rs) && rs[j] == '!' {
				j++
			}
			if j < len(rs) && rs[j] == ']' {
				j++
			}
			for j < len(rs) && rs[j] != ']' {
				j++
			}
			if j >= len(rs) {
				b.WriteString(`\[`) // no closing bracket: a literal "["
				continue
			}
			b.WriteString(translateClass(rs[i+1 : j]))
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)\z`)
	return b.String()
}

// translateClass translates the inside of a "[...]", as fnmatch does: a
// leading "!" negates; "x-y" is a range, and a reversed one is dropped with
// its ends (an empty class never matches); every other character,
// "[" and "\" included, is literal.
func translateClass(stuff []rune) string {
	// Split where a "-" makes a range, as fnmatch does: never at the first
	// character (after a "!"), nor right after a range's end.
	var chunks [][]rune
	i, k := 0, 1
	if stuff[0] == '!' {
		k = 2
	}
	for {
		d := -1
		for p := k; p < len(stuff); p++ {
			if stuff[p] == '-' {
				d = p
				break
			}
		}
		if d < 0 {
			break
		}
		chunks = append(chunks, stuff[i:d])
		i, k = d+1, d+3
	}
	if i < len(stuff) {
		chunks = append(chunks, stuff[i:])
	} else {
		last := len(chunks) - 1
		chunks[last] = append(chunks[last][:len(chunks[last]):len(chunks[last])], '-')
	}
	// Drop reversed ranges with their ends.
	for k := len(chunks) - 1; k > 0; k-- {
		prev, next := chunks[k-1], chunks[k]
		if prev[len(prev)-1] > next[0] {
			merged := append(append([]rune(nil), prev[:len(prev)-1]...), next[1:]...)
			chunks = append(chunks[:k-1], append([][]rune{merged}, chunks[k+1:]...)...)
		}
	}
	neg := len(chunks[0]) > 0 && chunks[0][0] == '!'
	if neg {
		chunks[0] = chunks[0][1:]
	}
	empty := true
	for _, c := range chunks {
		empty = empty && len(c) == 0
	}
	switch {
	case empty && !neg:
		return `[^\x00-\x{10FFFF}]` // an empty class never matches
	case empty:
		return `.` // a negated empty class matches any character
	}
	var b strings.Builder
	b.WriteByte('[')
	if neg {
		b.WriteByte('^')
	}
	for n, c := range chunks {
		if n > 0 {
			b.WriteByte('-')
		}
		for _, r := range c {
			if r < utf8.RuneSelf && !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte(']')
	return b.String()
}

// CompilePattern compiles a shell-style pattern with kafkaesk's (Python
// fnmatch's) rules into an anchored regular expression: "*" spans dots,
// "?" is one character, "[...]" a class with "!" for negation. Programs
// use it to match names as subscriptions match streams.
func CompilePattern(pattern string) (*regexp.Regexp, error) {
	return regexp.Compile(translateFnmatch(pattern))
}
