package doctor

import "errors"

// The evaluator runs libpam's _pam_dispatch_aux over a flattened stack,
// step for step: the impression (undecided, positive, negative) and the
// status, the state saved on entering a substack (for reset), jumps that
// count lines of the current level (a substack is one line), and done/die
// that end the current level only. A search then tries every result each
// module may give and looks for a path with a property: ending in
// success, or reaching pam_totpd.so after a failure.

const (
	impUndef int8 = 0
	impPos   int8 = 1
	impNeg   int8 = -1
)

// state is the dispatcher's state before handler i.
type state struct {
	i         int
	prevLevel int8
	imp       int8
	status    int8
	sub       [maxLevel + 1]struct{ imp, status int8 }
	// seenTotpd: pam_totpd.so has run on this path.
	seenTotpd bool
}

func startState() state { return state{status: retPermDenied} }

// machine evaluates one stack.
type machine struct {
	hs []Handler
}

// settle records the state on entering a substack and passes substack
// marks, as the top of libpam's loop does, until s.i is a handler that
// returns a value or the end.
func (m *machine) settle(s state) state {
	for s.i < len(m.hs) {
		h := &m.hs[s.i]
		lvl := int8(h.Level)
		if s.prevLevel < lvl {
			s.sub[lvl].imp, s.sub[lvl].status = s.imp, s.status
		}
		if h.Kind != hSubstack {
			return s
		}
		s.prevLevel = lvl
		s.i++
	}
	return s
}

// apply is handler s.i returning ret; it reports the next state (settled)
// and the action taken. A handler libpam fails returns PAM_PERM_DENIED
// whatever ret is.
func (m *machine) apply(s state, ret int) (state, int) {
	h := &m.hs[s.i]
	lvl := h.Level
	if h.Kind == hMustFail {
		ret = retPermDenied
	}
	if h.isTotpd() {
		s.seenTotpd = true
	}
	action := h.Actions[ret]
	decided := false
	switch {
	case action == actReset:
		s.imp, s.status = s.sub[lvl].imp, s.sub[lvl].status
	case action == actOK || action == actDone:
		if s.imp == impUndef || (s.imp == impPos && s.status == retSuccess) {
			s.imp, s.status = impPos, int8(ret)
		}
		decided = s.imp == impPos && action == actDone
	case action == actBad || action == actDie:
		if s.imp != impNeg {
			s.imp = impNeg
			if ret == retIgnore {
				s.status = retPermDenied
			} else {
				s.status = int8(ret)
			}
		}
		decided = action == actDie
	case action == actIgnore:
	default:
		n := 0
		if action > 0 {
			n = action
			j := s.i
			for j+1 < len(m.hs) && m.hs[j+1].Level >= lvl && n > 0 {
				for {
					j++
					if !(j+1 < len(m.hs) && m.hs[j+1].Level > lvl) {
						break
					}
				}
				n--
			}
			s.i = j
		} else {
			n = 1
		}
		if n != 0 {
			// libpam: "bad jump in stack"; it can no longer succeed.
			s.imp, s.status = impNeg, retPermDenied
		}
	}
	if decided {
		for s.i+1 < len(m.hs) && m.hs[s.i+1].Level >= lvl {
			s.i++
		}
	}
	s.prevLevel = int8(lvl)
	s.i++
	return m.settle(s), action
}

// result is the stack's answer in state s at the end.
func result(s state) int {
	st := int(s.status)
	if st == retSuccess && s.imp != impPos {
		return retPermDenied
	}
	return st
}

// Run evaluates the stack with ret(i) the result of handler i, and
// reports pam_authenticate's result. The tests compare it with libpam's.
func (st *Stack) Run(ret func(h *Handler) int) int {
	m := &machine{hs: st.Handlers}
	s := m.settle(startState())
	for s.i < len(m.hs) {
		s, _ = m.apply(s, ret(&m.hs[s.i]))
	}
	return result(s)
}

// Step is one handler's result on a path, for the report.
type Step struct {
	Pos    Pos    `json:"-"`
	Where  string `json:"where"`
	Module string `json:"module"`
	Result string `json:"result"`
	Action string `json:"action"`
	index  int
	next   int // the index of the next handler run
	imp    int8
}

// errTooLarge: the search met more states than maxStates.
var errTooLarge = errors.New("the stack is too large to evaluate every combination of results")

// maxStates bounds one search. Realistic stacks (a dozen lines, a few
// substacks) reach a few hundred states.
const maxStates = 1 << 18

// search looks for a path from the start along which every handler gives
// one of outcomes(h, s) and stop holds at some settled state (at a
// handler, or at the end when s.i == len). It reports the path, or nil.
type search struct {
	m        *machine
	outcomes func(h *Handler, s state) []int
	stop     func(s state) bool
	dead     map[state]bool
	visited  int
}

func (q *search) run() ([]Step, error) {
	q.dead = map[state]bool{}
	path := []Step{}
	found, err := q.dfs(q.m.settle(startState()), &path)
	if err != nil || !found {
		return nil, err
	}
	return path, nil
}

func (q *search) dfs(s state, path *[]Step) (bool, error) {
	if q.stop(s) {
		return true, nil
	}
	if s.i >= len(q.m.hs) || q.dead[s] {
		return false, nil
	}
	if q.visited++; q.visited > maxStates {
		return false, errTooLarge
	}
	h := &q.m.hs[s.i]
	for _, ret := range q.outcomes(h, s) {
		next, action := q.m.apply(s, ret)
		if h.Kind == hMustFail {
			ret = retPermDenied
		}
		*path = append(*path, Step{Pos: h.Line.Pos, Where: h.Where(), Module: h.label(), Result: retName(ret), Action: actionName(action), index: s.i, next: next.i, imp: next.imp})
		ok, err := q.dfs(next, path)
		if ok || err != nil {
			return ok, err
		}
		*path = (*path)[:len(*path)-1]
	}
	q.dead[s] = true
	return false, nil
}

func (h *Handler) label() string {
	if h.Kind == hMustFail {
		return "(failing line: " + h.Why + ")"
	}
	return h.Name
}

// distinct keeps one return value for each different effect on h: the
// action, and whether the value is success or ignore (which set the
// status differently). Order is kept, so paths read success first.
func distinct(h *Handler, rets []int) []int {
	type key struct {
		act       int
		succ, ign bool
	}
	seen := map[key]bool{}
	out := rets[:0:0]
	for _, r := range rets {
		k := key{h.Actions[r], r == retSuccess, r == retIgnore}
		if h.Kind == hMustFail {
			k = key{h.Actions[retPermDenied], false, false}
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out
}
