package doctor

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Pos is a place in a file: the first physical line of a logical line.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Line is one logical line of a PAM service file, as libpam splits it.
type Line struct {
	Pos
	// Type is the module type as written without a leading '-' ("auth",
	// "account" ...), or "@include" for Debian's include of every type.
	Type   string
	Silent bool // "-auth": libpam does not log a missing module
	// Control is the control token as written ("required",
	// "[success=1 default=ignore]" without its brackets).
	Control string
	Module  string // the module path, or the file an include names
	Args    []string
	Text    string // the assembled line, comments removed
}

// maxLineBytes bounds one logical line: libpam has no bound, but a
// service file of megabytes is not a configuration to evaluate.
const maxLineBytes = 64 << 10

// ParseFile splits a service file into logical lines as libpam's
// _pam_assemble_line does: everything from '#' to the end of a physical
// line is a comment, a backslash at its end (before blanks) joins the next
// line with a space, and blank lines are skipped.
func ParseFile(name string, r io.Reader) ([]Line, error) {
	var lines []Line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxLineBytes)
	var buf strings.Builder
	start, n := 0, 0
	for sc.Scan() {
		n++
		phys := sc.Text()
		cont := false
		trimmed := strings.TrimRight(phys, " \t")
		if strings.HasSuffix(trimmed, "\\") {
			phys = trimmed[:len(trimmed)-1] + " "
			cont = true
		}
		if i := strings.IndexByte(phys, '#'); i >= 0 {
			// A comment ends the logical line, even after a backslash.
			phys = phys[:i]
			cont = false
		}
		phys = strings.TrimLeft(phys, " \t")
		if buf.Len() == 0 {
			start = n
		}
		buf.WriteString(phys)
		if buf.Len() > maxLineBytes {
			return nil, fmt.Errorf("%s:%d: a line of more than %d bytes", name, start, maxLineBytes)
		}
		if cont {
			continue
		}
		if text := buf.String(); strings.TrimSpace(text) != "" {
			lines = append(lines, splitLine(Pos{name, start}, text))
		}
		buf.Reset()
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if text := buf.String(); strings.TrimSpace(text) != "" {
		lines = append(lines, splitLine(Pos{name, start}, text))
	}
	return lines, nil
}

// splitLine cuts a logical line into type, control, module and arguments.
func splitLine(pos Pos, text string) Line {
	l := Line{Pos: pos, Text: strings.TrimSpace(text)}
	toks := tokenize(text)
	if len(toks) == 0 {
		return l
	}
	l.Type = toks[0]
	if l.Type == "@include" {
		if len(toks) > 1 {
			l.Module = toks[1]
		}
		return l
	}
	if strings.HasPrefix(l.Type, "-") {
		l.Silent = true
		l.Type = l.Type[1:]
	}
	if len(toks) > 1 {
		l.Control = toks[1]
	}
	if len(toks) > 2 {
		l.Module = toks[2]
	}
	if len(toks) > 3 {
		l.Args = toks[3:]
	}
	return l
}

// tokenize splits on blanks as _pam_StrTok does, with "[...]" one token
// (brackets removed, "\]" read as "]"), up to the first unescaped ']'.
func tokenize(s string) []string {
	var toks []string
	i := 0
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		if i == len(s) {
			return toks
		}
		if s[i] == '[' {
			i++
			var b strings.Builder
			for i < len(s) && s[i] != ']' {
				if s[i] == '\\' && i+1 < len(s) && s[i+1] == ']' {
					i++
				}
				b.WriteByte(s[i])
				i++
			}
			if i < len(s) {
				i++ // the ']'
			}
			toks = append(toks, b.String())
			continue
		}
		j := i
		for j < len(s) && s[j] != ' ' && s[j] != '\t' && s[j] != '\n' {
			j++
		}
		toks = append(toks, s[i:j])
		i = j
	}
}
