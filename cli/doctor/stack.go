package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TotpdModule is the module doctor looks for, matched by base name.
const TotpdModule = "pam_totpd.so"

// maxLevel is libpam's PAM_SUBSTACK_MAX_LEVEL: includes nest at most this deep.
const maxLevel = 16

// maxServiceFile bounds a service file doctor reads.
const maxServiceFile = 1 << 20

type handlerKind int

const (
	hModule   handlerKind = iota
	hMustFail             // a line libpam cannot use: it fails with PAM_PERM_DENIED
	hSubstack             // the mark where a substack starts; its lines follow, one level down
)

// Handler is one entry of a service's flattened auth stack, as libpam
// builds it: include and @include inline their file's auth lines at the
// same level, substack puts a mark and its lines one level down.
type Handler struct {
	Kind    handlerKind
	Level   int
	Actions actions
	Line    *Line
	Via     []Pos  // the include lines that led here, outermost first
	Name    string // the module's base name, "pam_unix.so"
	Path    string // the module file found, "" when not looked up or not found
	Missing bool   // looked up and not found
	Why     string // for hMustFail: why libpam fails this line
}

// Where reports the handler's place for people: "common-auth:1 (from sshd:3)".
func (h *Handler) Where() string {
	s := h.Line.Pos.String()
	if len(h.Via) > 0 {
		from := make([]string, 0, len(h.Via))
		for i := len(h.Via) - 1; i >= 0; i-- {
			from = append(from, h.Via[i].String())
		}
		s += " (from " + strings.Join(from, ", from ") + ")"
	}
	return s
}

func (h *Handler) isTotpd() bool { return h.Kind == hModule && h.Name == TotpdModule }

// Stack is the auth stack of one service.
type Stack struct {
	Service  string
	File     string // the service file read; "" when PAM falls back to "other"
	Other    bool   // the auth stack is other's (no file, or no auth lines)
	Handlers []Handler
	// Broken says why libpam cannot load the service at all (every login
	// fails), "" when it can.
	Broken string
	// Problems are lines libpam reads but fails, or files it cannot open.
	Problems []Problem
}

// Problem is something wrong with a line, for a warning.
type Problem struct {
	Pos     Pos
	Message string
}

// Loader reads service files from Dirs, as libpam does: the first
// directory holding the name wins (/etc/pam.d, then /usr/lib/pam.d).
type Loader struct {
	Dirs []string
	// ModuleDirs are where relative module paths are looked up (libpam
	// has one built-in directory; the list covers the distributions).
	// Nil: module files are not looked up.
	ModuleDirs []string
	cache      map[string][]Line
}

// errNoFile reports a service or include file that is not there.
var errNoFile = errors.New("no such file")

// open finds and parses name: an absolute path as it is, else the first
// of l.Dirs that has it.
func (l *Loader) open(name string) (string, []Line, error) {
	if l.cache == nil {
		l.cache = map[string][]Line{}
	}
	var cands []string
	if filepath.IsAbs(name) {
		cands = []string{name}
	} else {
		for _, d := range l.Dirs {
			cands = append(cands, filepath.Join(d, name))
		}
	}
	for _, p := range cands {
		if lines, ok := l.cache[p]; ok {
			return p, lines, nil
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return p, nil, err
		}
		st, err := f.Stat()
		if err == nil && !st.Mode().IsRegular() {
			err = fmt.Errorf("%s: not a regular file", p)
		} else if err == nil && st.Size() > maxServiceFile {
			err = fmt.Errorf("%s: larger than %d bytes", p, maxServiceFile)
		}
		var lines []Line
		if err == nil {
			lines, err = ParseFile(p, f)
		}
		f.Close()
		if err != nil {
			return p, nil, err
		}
		l.cache[p] = lines
		return p, lines, nil
	}
	return "", nil, errNoFile
}

// Load builds the auth stack of service as libpam would for pam_authenticate.
func (l *Loader) Load(service string) *Stack {
	st := &Stack{Service: service}
	path, lines, err := l.open(service)
	switch {
	case errors.Is(err, errNoFile):
		st.Other = true
	case err != nil:
		st.Broken = err.Error()
		return st
	default:
		st.File = path
		if err := l.flatten(st, lines, nil, 0, 0); err != "" {
			st.Broken = err
			return st
		}
	}
	if len(st.Handlers) == 0 {
		// No auth entry: libpam runs other's auth stack.
		st.Other = true
		_, olines, err := l.open("other")
		if err != nil {
			st.Broken = "no auth lines, and no readable \"other\" service to fall back to: libpam refuses every login"
			if !errors.Is(err, errNoFile) {
				st.Broken += " (" + err.Error() + ")"
			}
			return st
		}
		if err := l.flatten(st, olines, nil, 0, 0); err != "" {
			st.Broken = err
		}
		if len(st.Handlers) == 0 && st.Broken == "" {
			st.Broken = "no auth lines in the service or in \"other\": libpam refuses every login"
		}
	}
	return st
}

// flatten appends the auth handlers of lines at level, following includes
// (depth counts nesting as libpam's include_level). A non-empty result
// means libpam cannot load the service at all.
func (l *Loader) flatten(st *Stack, lines []Line, via []Pos, depth, level int) string {
	for i := range lines {
		ln := &lines[i]
		if ln.Type == "@include" {
			// Debian's @include: the file's lines of the type asked for,
			// inline; a file that cannot be read stops libpam from loading
			// the service at all (pam_start fails).
			if ln.Module == "" {
				return ln.Pos.String() + ": @include names no file: libpam cannot load the service"
			}
			if depth+1 >= maxLevel {
				return ln.Pos.String() + ": includes nest deeper than 16 (a loop?): libpam cannot load the service"
			}
			_, sub, err := l.open(ln.Module)
			if err != nil {
				return fmt.Sprintf("%s: @include %s: %v: libpam cannot load the service, every login fails", ln.Pos, ln.Module, err)
			}
			if msg := l.flatten(st, sub, appendPos(via, ln.Pos), depth+1, level); msg != "" {
				return msg
			}
			continue
		}
		mustFail := ""
		switch strings.ToLower(ln.Type) {
		case "auth":
		case "account", "session", "password":
			continue
		default:
			// libpam reads a line of unknown type as the most sensitive
			// type, auth, and fails it.
			mustFail = fmt.Sprintf("unknown module type %q", ln.Type)
		}
		h := Handler{Kind: hModule, Level: level, Line: ln, Via: via}
		if ln.Control == "" {
			h.Actions = undefActions()
			h.Actions.setDefault(actBad)
			h.Kind, h.Why = hMustFail, "no control"
			st.add(h)
			continue
		}
		acts, kind, bad := parseControlWord(ln.Control)
		h.Actions = acts
		if bad != "" {
			st.Problems = append(st.Problems, Problem{ln.Pos, fmt.Sprintf("control [%s]: %s: libpam treats every result of this line as bad", ln.Control, bad)})
		}
		if kind != ctlModule {
			sublevel := level
			if kind == ctlSubstack {
				st.add(Handler{Kind: hSubstack, Level: level, Line: ln, Via: via, Name: ln.Module})
				sublevel++
			}
			why := ""
			if ln.Module == "" {
				why = "names no file"
			} else if depth+1 >= maxLevel {
				why = "includes nest deeper than 16 (a loop?)"
			} else if _, sub, err := l.open(ln.Module); err != nil {
				why = err.Error()
			} else if msg := l.flatten(st, sub, appendPos(via, ln.Pos), depth+1, sublevel); msg != "" {
				return msg
			}
			if why != "" {
				fail := Handler{Kind: hMustFail, Level: level, Line: ln, Via: via, Name: ln.Module, Why: fmt.Sprintf("%s %s: %s", ln.Control, ln.Module, why)}
				fail.Actions = undefActions()
				fail.Actions.setDefault(actBad)
				st.Problems = append(st.Problems, Problem{ln.Pos, fail.Why + ": libpam fails this line"})
				st.add(fail)
			}
			continue
		}
		if ln.Module == "" {
			mustFail = "no module named"
		}
		h.Name = filepath.Base(ln.Module)
		if mustFail != "" {
			h.Kind, h.Why = hMustFail, mustFail
			st.Problems = append(st.Problems, Problem{ln.Pos, mustFail + ": libpam fails this line"})
		} else if l.ModuleDirs != nil {
			h.Path, h.Missing = l.findModule(ln.Module)
		}
		st.add(h)
	}
	return ""
}

func (st *Stack) add(h Handler) { st.Handlers = append(st.Handlers, h) }

func appendPos(via []Pos, p Pos) []Pos {
	out := make([]Pos, 0, len(via)+1)
	return append(append(out, via...), p)
}

// findModule reports the file libpam would load for mod, or that none is there.
func (l *Loader) findModule(mod string) (string, bool) {
	if filepath.IsAbs(mod) {
		if _, err := os.Stat(mod); err != nil {
			return "", true
		}
		return mod, false
	}
	for _, d := range l.ModuleDirs {
		p := filepath.Join(d, mod)
		if _, err := os.Stat(p); err == nil {
			return p, false
		}
	}
	return "", true
}
