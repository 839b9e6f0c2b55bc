package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const manPage = "../packaging/man/totpctl.1.md"

// helpListing parses the overview of 'totpctl help': the commands listed
// under its "For ...:" sections ("enroll begin", "user check") and the
// global options ("--socket").
func helpListing(t *testing.T, help string) (cmds, globals []string) {
	t.Helper()
	word := regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	section := ""
	for _, line := range strings.Split(help, "\n") {
		if line != "" && line[0] != ' ' {
			section = line
			continue
		}
		// Entries are indented by two spaces; wrapped text by more.
		if !strings.HasPrefix(line, "  ") || strings.HasPrefix(line, "   ") {
			continue
		}
		entry := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(section, "Global options"):
			if f := strings.Fields(entry)[0]; strings.HasPrefix(f, "--") {
				globals = append(globals, f)
			}
		case strings.HasPrefix(section, "For "):
			// The left column ends at the first argument (NAME, [CODE2],
			// --code) or at the gap before the summary.
			left, _, _ := strings.Cut(entry, "  ")
			var words []string
			for _, w := range strings.Fields(left) {
				if !word.MatchString(w) {
					break
				}
				words = append(words, w)
			}
			if len(words) > 0 {
				cmds = append(cmds, strings.Join(words, " "))
			}
		}
	}
	return cmds, globals
}

// manTerms reads the definition-list terms of a go-md2man page: the line
// before a ":   definition" line, keyed by its leading bold text, e.g.
// "user check" for `**user check** *NAME* *CODE* [**--json**]`.
func manTerms(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(manPage)
	require.NoError(t, err)
	lines := strings.Split(string(data), "\n")
	bold := regexp.MustCompile(`^\*\*([^*]+)\*\*`)
	terms := map[string]string{}
	for i := 0; i+1 < len(lines); i++ {
		if !strings.HasPrefix(lines[i+1], ":") {
			continue
		}
		if m := bold.FindStringSubmatch(lines[i]); m != nil {
			terms[m[1]] = lines[i]
		}
	}
	return terms
}

var longFlag = regexp.MustCompile(`--[a-z][a-z0-9-]*`)

// Every command, subcommand and option that totpctl's help lists is
// documented in totpctl(1), so a command added without a man page entry
// fails here.
func TestManPageDocumentsEveryCommand(t *testing.T) {
	r := runFake(t, nil, "", "help")
	require.Equal(t, exitOK, r.code, r.stderr)
	cmds, globals := helpListing(t, r.stdout)
	require.NotEmpty(t, cmds, "no commands found in 'totpctl help':\n%s", r.stdout)
	require.Subset(t, cmds, []string{"enroll", "enroll begin", "enroll confirm", "status", "users", "user show", "user check"})
	require.Subset(t, globals, []string{"--socket", "--json", "--timeout"})
	// The synopsis line names the global options too.
	head, _, _ := strings.Cut(r.stdout, "\n")
	require.ElementsMatch(t, longFlag.FindAllString(head, -1), globals, "the first line of 'totpctl help' and its global options differ")

	terms := manTerms(t)
	for _, f := range globals {
		require.Contains(t, terms, f, "%s: global option %s is not documented (want a term line **%s** ...)", manPage, f, f)
	}
	isGlobal := map[string]bool{}
	for _, f := range globals {
		isGlobal[f] = true
	}
	for _, c := range cmds {
		line, ok := terms[c]
		require.True(t, ok, "%s: command %q is not documented (want a term line **%s** ... followed by a ':   ' definition)", manPage, c, c)

		// The parsed name is a real command: its own help names it, and
		// its options are on its man page entry.
		r := runFake(t, nil, "", append(strings.Fields(c), "--help")...)
		require.Equal(t, exitOK, r.code, "totpctl %s --help: %s", c, r.stderr)
		usage, _, _ := strings.Cut(r.stdout, "\n")
		require.True(t, strings.HasPrefix(usage+" ", "Usage: totpctl "+c+" "), "totpctl %s --help: %q", c, usage)
		for _, f := range longFlag.FindAllString(usage, -1) {
			if !isGlobal[f] {
				require.Contains(t, line, "**"+f+"**", "%s: the entry of %q does not show its option %s", manPage, c, f)
			}
		}
	}
	require.Contains(t, terms, "help", "%s: the help command is not documented", manPage)
}
