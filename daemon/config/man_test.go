package config

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
)

const (
	packagedFile = "../../packaging/totpd.toml"
	manPage      = "../../packaging/man/totpd.toml.5.md"
)

// dotted names a key as "socket" (top level) or "totp.algorithm".
func dotted(table, name string) string {
	if table == "" {
		return name
	}
	return table + "." + name
}

// packagedKeys decodes packaging/totpd.toml and reports every key it sets,
// dotted, in the order of the file, with its value.
func packagedKeys(t *testing.T) ([]string, map[string]any) {
	t.Helper()
	data, err := os.ReadFile(packagedFile)
	require.NoError(t, err)
	var tree map[string]any
	md, err := toml.Decode(string(data), &tree)
	require.NoError(t, err)
	var keys []string
	values := map[string]any{}
	for _, k := range md.Keys() {
		if len(k) == 1 && md.Type(k...) == "Hash" {
			continue // a [table] header, not a key
		}
		require.LessOrEqual(t, len(k), 2, "%s: %s: the file has no nested tables", packagedFile, k)
		var v any = tree[k[0]]
		if len(k) == 2 {
			v = tree[k[0]].(map[string]any)[k[1]]
		}
		keys = append(keys, k.String())
		values[k.String()] = v
	}
	return keys, values
}

// manKeys reads the KEYS part of totpd.toml(5): for each "### [table]"
// section (and "### Top-level keys", table ""), the definition-list terms
// that name a key, e.g. `**window** (integer, default 1)` followed by a
// `:   ...` line, mapped to their term lines.
func manKeys(t *testing.T) map[string]map[string]string {
	t.Helper()
	data, err := os.ReadFile(manPage)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	tableHeading := regexp.MustCompile(`^### \[([a-z_]+)\]\s*$`)
	term := regexp.MustCompile(`^\*\*([a-z_]+)\*\*`)
	sections := map[string]map[string]string{}
	var cur map[string]string // nil outside a key section
	for i, line := range lines {
		if strings.HasPrefix(line, "#") {
			cur = nil
			table, ok := "", strings.TrimSpace(line) == "### Top-level keys"
			if m := tableHeading.FindStringSubmatch(line); m != nil {
				table, ok = m[1], true
			}
			if ok {
				require.NotContains(t, sections, table, "%s: two sections for table %q", manPage, table)
				cur = map[string]string{}
				sections[table] = cur
			}
			continue
		}
		// A term is the line just before its ":   definition" line; a
		// paragraph line that merely starts with a bold key is not one.
		if cur == nil || i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], ":") {
			continue
		}
		if m := term.FindStringSubmatch(line); m != nil {
			cur[m[1]] = line
		}
	}
	return sections
}

// Every key of the packaged file is documented in totpd.toml(5), in the
// section of its table, with the file's value as its default; and the page
// documents no key the daemon does not have.
func TestManPageDocumentsEveryKey(t *testing.T) {
	keys, values := packagedKeys(t)
	require.NotEmpty(t, keys)
	require.Contains(t, keys, "socket")
	require.Contains(t, keys, "totp.window")
	require.Contains(t, keys, "policy.grace_period")

	sections := manKeys(t)
	require.NotEmpty(t, sections, "%s: no key sections (### Top-level keys, ### [table]) found", manPage)
	for _, k := range keys {
		table, name, ok := strings.Cut(k, ".")
		if !ok {
			table, name = "", k
		}
		heading := "### [" + table + "]"
		if table == "" {
			heading = "### Top-level keys"
		}
		sec, ok := sections[table]
		require.True(t, ok, "%s: no section %q for key %s", manPage, heading, k)
		line, ok := sec[name]
		require.True(t, ok, "%s: key %s is not documented under %q (want a term line **%s** ... followed by a ':   ' definition)",
			manPage, k, heading, name)
		require.Contains(t, line, "default "+render(values[k]), "%s: the default of %s differs from %s", manPage, k, packagedFile)
	}

	for table, sec := range sections {
		for name := range sec {
			_, ok := lookup(table, name)
			require.True(t, ok, "%s documents %s, which is not a key of the configuration", manPage, dotted(table, name))
		}
	}
}

// The packaged file and the schema have the same keys, so that neither can
// drift from the other (and so from the man page).
func TestPackagedFileHasEverySchemaKey(t *testing.T) {
	keys, _ := packagedKeys(t)
	var want []string
	for _, k := range schema {
		want = append(want, dotted(k.table, k.name))
	}
	require.NotEmpty(t, want)
	require.ElementsMatch(t, want, keys, "%s must set every key of the schema, once", packagedFile)
}
