package main

import (
	"testing"

	"github.com/totpd/totpd/daemon/wire"
	"github.com/totpd/totpd/daemon/wire/wiretest"
)

// reply is what the fake daemon does with one request: answer resp,
// write raw bytes instead, or hang (read the request, never answer).
type reply struct {
	resp *wire.Response
	raw  []byte
	hang bool
}

// newFakeDaemon starts a daemon (wiretest) that reads each request and
// does what handle says with it; its Requests are what the module sent.
func newFakeDaemon(t *testing.T, handle func(wire.Request) reply) *wiretest.Server {
	t.Helper()
	return wiretest.NewRawServer(t, func(c *wiretest.Conn) {
		req, err := c.ReadRequest()
		if err != nil {
			return
		}
		r := handle(req)
		switch {
		case r.hang:
			c.Hang()
		case r.raw != nil:
			c.Write(r.raw)
		default:
			resp := r.resp
			if resp == nil {
				resp = &wire.Response{Error: &wire.Error{Code: wire.ErrCodeInternal, Message: "fake daemon has no answer"}}
			}
			_ = c.Reply(*resp)
		}
	})
}

// scripted answers each op from a table; ops not in it get an internal error.
func scripted(answers map[wire.Op]reply) func(wire.Request) reply {
	return func(req wire.Request) reply { return answers[req.Op] }
}

// promptFor is the usual daemon for an enrolled user whose code is good.
func promptFor(good string, welcome ...wire.Message) func(wire.Request) reply {
	return func(req wire.Request) reply {
		switch req.Op {
		case wire.OpLoginQuery:
			return reply{resp: &wire.Response{Action: wire.ActionPrompt}}
		case wire.OpLoginVerify:
			if req.Code == good {
				return reply{resp: &wire.Response{Messages: welcome}}
			}
			return reply{resp: &wire.Response{Error: &wire.Error{Code: wire.ErrCodeDenied, Message: "Wrong verification code."}}}
		}
		return reply{}
	}
}

func action(a wire.Action, msgs ...wire.Message) reply {
	return reply{resp: &wire.Response{Action: a, Messages: msgs}}
}

func refusal(code, msg string) reply {
	return reply{resp: &wire.Response{Error: &wire.Error{Code: code, Message: msg}}}
}
