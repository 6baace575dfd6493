package core

import (
	"regexp"
	"slices"
	"strings"
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
			class := string(rs[i+1 : j])
			i = j
			neg := strings.HasPrefix(class, "!")
			if neg {
				class = class[1:]
			}
			class = strings.ReplaceAll(class, `\`, `\\`)
			b.WriteByte('[')
			if neg {
				b.WriteByte('^')
			} else if strings.HasPrefix(class, "^") {
				b.WriteByte('\\')
			}
			b.WriteString(class)
			b.WriteByte(']')
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)\z`)
	return b.String()
}
