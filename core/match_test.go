package core

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fnmatchCases are Python fnmatch semantics: every want was checked with
// Python 3.11,
//
//	bool(re.match(fnmatch.translate(pattern), name))
//
// which is how kafkaesk turns a pattern holding "*" into the regular
// expression it subscribes with.
var fnmatchCases = []struct {
	pattern string
	match   []string
	noMatch []string
}{
	// "*" spans dots and any run of characters, the empty one too.
	{"a*b", []string{"a.x.b", "ab", "a.b"}, []string{"ba", "a.bc", "xab"}},
	{"orders.*", []string{"orders.eu", "orders.eu.refunds", "orders."}, []string{"orders", "ordersXeu", "xorders.eu"}},
	{"*", []string{"", "a", "a.b.c"}, nil},
	{"a**b", []string{"ab", "a..b", "a.b.b"}, []string{"a", "b", "abc"}},
	{"line*", []string{"line", "line\nfeed"}, []string{"lin"}},
	// "?" is exactly one character, a dot or a newline too.
	{"foo.?", []string{"foo.a"}, []string{"foo.", "foo.ab", "fooXa"}},
	{"a?c", []string{"abc", "a.c"}, []string{"ac", "abbc"}},
	{"a?b", []string{"a\nb"}, []string{"ab"}},
	{"*é?", []string{"xéy", "éy"}, []string{"xé"}},
	// Character classes.
	{"[abc]x", []string{"ax", "bx", "cx"}, []string{"dx", "abx", "x"}},
	{"[!abc]x", []string{"dx", ".x"}, []string{"ax", "bx", "cx", "x"}},
	{"[a-c]x", []string{"ax", "bx", "cx"}, []string{"dx", "-x", "Ax"}},
	{"*.[0-9]", []string{"v.1", "a.b.9"}, []string{"v.a", "v.10"}},
	{"x[a-]", []string{"xa", "x-"}, []string{"xb"}},
	{"x[]]", []string{"x]"}, []string{"x[]]", "x"}},
	{"x[!]]", []string{"xa"}, []string{"x]"}},
	{"[^a]x", []string{"^x", "ax"}, []string{"bx"}},
	{`[\]x`, []string{`\x`}, []string{"]x", "x"}},
	{"[[]x", []string{"[x"}, []string{"x", "[[x"}},
	// A "[" without a closing "]" is a literal "[".
	{"x[", []string{"x["}, []string{"x"}},
	{"x[ab", []string{"x[ab"}, []string{"xa", "xb"}},
	{"x[!", []string{"x[!"}, []string{"x", "x!"}},
	// Regular-expression metacharacters are literal.
	{"a.b", []string{"a.b"}, []string{"aXb", "ab"}},
	{"a+b", []string{"a+b"}, []string{"aab", "ab"}},
	{"a(b)", []string{"a(b)"}, []string{"ab"}},
	{"a|b", []string{"a|b"}, []string{"a", "b"}},
	{"a$b^c", []string{"a$b^c"}, []string{"abc"}},
	{`a\b`, []string{`a\b`}, []string{"ab"}},
	{"a{2}", []string{"a{2}"}, []string{"aa"}},
	// Anchored: the whole name must match.
	{"orders", []string{"orders"}, []string{"orders.eu", "my.orders", "order"}},
}

func TestTranslateFnmatchAgreesWithPython(t *testing.T) {
	for _, c := range fnmatchCases {
		t.Run(c.pattern, func(t *testing.T) {
			re, err := regexp.Compile(translateFnmatch(c.pattern))
			require.NoError(t, err, "translation %q", translateFnmatch(c.pattern))
			for _, name := range c.match {
				assert.True(t, re.MatchString(name), "%q must match %q (regexp %s)", c.pattern, name, re)
			}
			for _, name := range c.noMatch {
				assert.False(t, re.MatchString(name), "%q must not match %q (regexp %s)", c.pattern, name, re)
			}
		})
	}
}

// Python escapes a "[" inside a class (and warns about nested sets); Go's
// regexp reads "[:alpha:]" inside a class as a POSIX class, so an
// unescaped "[" makes the translation fail to compile or match otherwise.
// Python: fnmatch.translate("[[:alpha:]]") == r"(?s:[\[:alpha:]\])\Z".
func TestTranslateFnmatchNestedBracketIsLiteral(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"[[:alpha:]]", []string{"a]", ":]", "[]"}, []string{"x", "a", "b]"}},
		{"x[a[:digit:]]", []string{"xa]", "x[]", "x:]", "xd]"}, []string{"x1", "x1]", "xa"}},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			re, err := regexp.Compile(translateFnmatch(c.pattern))
			require.NoError(t, err, "translation %q", translateFnmatch(c.pattern))
			for _, name := range c.match {
				assert.True(t, re.MatchString(name), "%q must match %q (regexp %s)", c.pattern, name, re)
			}
			for _, name := range c.noMatch {
				assert.False(t, re.MatchString(name), "%q must not match %q (regexp %s)", c.pattern, name, re)
			}
		})
	}
}

// Python drops a reversed range such as "z-a" ("empty ranges, invalid in
// RE"); a class left empty never matches. Go's regexp refuses a reversed
// range, so the translation must not contain one.
// Python: fnmatch.translate("[z-a]x") == r"(?s:(?!)x)\Z",
// fnmatch.translate("[az-ab]") == r"(?s:[ab])\Z".
func TestTranslateFnmatchReversedRangeIsDropped(t *testing.T) {
	cases := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"[z-a]x", nil, []string{"zx", "ax", "mx", "-x", "x"}},
		{"[az-ab]", []string{"a", "b"}, []string{"z", "m", "-"}},
		{"[!z-a]x", []string{"zx", "ax", "-x"}, []string{"x"}},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			re, err := regexp.Compile(translateFnmatch(c.pattern))
			require.NoError(t, err, "translation %q", translateFnmatch(c.pattern))
			for _, name := range c.match {
				assert.True(t, re.MatchString(name), "%q must match %q (regexp %s)", c.pattern, name, re)
			}
			for _, name := range c.noMatch {
				assert.False(t, re.MatchString(name), "%q must not match %q (regexp %s)", c.pattern, name, re)
			}
		})
	}
}

func TestPatternMatcherWithStarIsFnmatchOnPrefixedNames(t *testing.T) {
	const prefix = "test-1a2b."
	topics := []string{
		"test-1a2b.orders.us",
		"test-1a2b.orders.eu",
		"test-1a2b.orders.eu.refunds",
		"test-1a2b.orders",
		"test-1a2b.orders.eu", // listed twice
		"test-1a2bXorders.eu", // the prefix's "." is literal
		"orders.eu",           // no prefix
		"other.test-1a2b.orders.eu",
		"test-1a2b.payments.eu",
	}
	m, err := newPatternMatcher(prefix, "orders.*")
	require.NoError(t, err)
	assert.Equal(t, []string{"test-1a2b.orders.eu", "test-1a2b.orders.eu.refunds", "test-1a2b.orders.us"}, m.match(topics),
		"matched names are sorted, without duplicates")
	assert.Equal(t, "test-1a2b.orders.*", m.desc)

	m, err = newPatternMatcher(prefix, "*.eu")
	require.NoError(t, err)
	assert.Equal(t, []string{"test-1a2b.orders.eu", "test-1a2b.payments.eu"}, m.match(topics))

	m, err = newPatternMatcher(prefix, "orders.?s*")
	require.NoError(t, err)
	assert.Equal(t, []string{"test-1a2b.orders.us"}, m.match(topics), "with a *, ? is one character")

	m, err = newPatternMatcher(prefix, "orders.[!u]*")
	require.NoError(t, err)
	assert.Equal(t, []string{"test-1a2b.orders.eu", "test-1a2b.orders.eu.refunds"}, m.match(topics), "with a *, [!u] is a class")
}

func TestPatternMatcherWithoutStarIsExact(t *testing.T) {
	const prefix = "p."
	topics := []string{"p.foo.bar", "p.foo.bar1", "p.foo.baz", "p.foo.ba?", "p.foo.ba[rz]", "foo.bar", "p.xfoo.bar"}
	for _, c := range []struct {
		pattern string
		want    []string
	}{
		{"foo.bar", []string{"p.foo.bar"}},       // not foo.bar1
		{"foo.ba?", []string{"p.foo.ba?"}},       // "?" is literal without a "*"
		{"foo.ba[rz]", []string{"p.foo.ba[rz]"}}, // so is "[...]"
		{"foo.bar2", nil},                        // nothing matches yet
		{"foo.ba", nil},
	} {
		m, err := newPatternMatcher(prefix, c.pattern)
		require.NoError(t, err, c.pattern)
		assert.Equal(t, c.want, m.match(topics), "pattern %q", c.pattern)
		assert.Equal(t, prefix+c.pattern, m.desc)
		assert.Nil(t, m.re, "pattern %q without * is exact, not a regexp", c.pattern)
	}
}

func TestPatternMatcherWithoutPrefix(t *testing.T) {
	m, err := newPatternMatcher("", "foo.*")
	require.NoError(t, err)
	assert.Equal(t, []string{"foo.a", "foo.b.c"}, m.match([]string{"foo.b.c", "foo", "foo.a", "xfoo.a"}))
}

func TestInternalTopicsAreNeverMatched(t *testing.T) {
	topics := []string{"__consumer_offsets", "__transaction_state", "orders", "a__b"}
	for _, pattern := range []string{"*", "__*", "*offsets", "__consumer_offsets", "?_consumer_offsets*"} {
		m, err := newPatternMatcher("", pattern)
		require.NoError(t, err, pattern)
		for _, got := range m.match(topics) {
			assert.NotEqual(t, "__consumer_offsets", got, "pattern %q", pattern)
			assert.NotEqual(t, "__transaction_state", got, "pattern %q", pattern)
		}
	}
	m, err := newPatternMatcher("", "*")
	require.NoError(t, err)
	assert.Equal(t, []string{"a__b", "orders"}, m.match(topics))

	l := newTopicsMatcher("", []string{"__consumer_offsets", "orders"})
	assert.Equal(t, []string{"orders"}, l.match(topics))
}

func TestTopicsMatcherIsTheExactList(t *testing.T) {
	m := newTopicsMatcher("p.", []string{"b", "a", "c.*", "a"})
	topics := []string{"p.a", "p.b", "p.b", "p.a1", "a", "b", "p.c", "p.c.x", "p.c.*", "xp.a", "p.d"}
	assert.Equal(t, []string{"p.a", "p.b", "p.c.*"}, m.match(topics), "a list entry holding * is still exact")
	assert.Equal(t, "p.b,p.a,p.c.*,p.a", m.desc)
	assert.Nil(t, m.re)
	assert.Nil(t, m.match(nil))
	assert.Nil(t, m.match([]string{"a", "b", "p.e"}))
}

func TestTranslateFnmatchIsAnchoredAndCompiles(t *testing.T) {
	// Each pattern is matched against names that extend it on either side:
	// the translation must be anchored at both ends.
	for _, pattern := range []string{"a*b", "orders.?", "[ab]c", "x[!y]", "lit.eral"} {
		re, err := regexp.Compile(translateFnmatch(pattern))
		require.NoError(t, err, pattern)
		for _, name := range []string{"z" + concreteName(pattern), concreteName(pattern) + "z", "\n" + concreteName(pattern), concreteName(pattern) + "\n"} {
			assert.False(t, re.MatchString(name), "%q must not match %q", pattern, name)
		}
		assert.True(t, re.MatchString(concreteName(pattern)), "%q must match %q", pattern, concreteName(pattern))
	}
}

// concreteName returns a name that the patterns of
// TestTranslateFnmatchIsAnchoredAndCompiles match.
func concreteName(pattern string) string {
	switch pattern {
	case "a*b":
		return "a.x.b"
	case "orders.?":
		return "orders.1"
	case "[ab]c":
		return "bc"
	case "x[!y]":
		return "xz"
	case "lit.eral":
		return "lit.eral"
	}
	panic(fmt.Sprintf("no concrete name for %q", pattern))
}
