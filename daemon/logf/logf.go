// Package logf is the one form of totpd's log lines: "totpd: <message>",
// one line each. The daemon, the engine, the server and the store all log
// through a Func made here, so their lines read alike and go where
// daemon.Run says.
package logf

import (
	"fmt"
	"io"
	"os"
)

// Func logs one message, formatted as fmt.Sprintf does, with no newline.
type Func func(format string, args ...any)

// To returns a Func that writes each message to w as one line
// "totpd: <message>".
func To(w io.Writer) Func {
	return func(format string, args ...any) { fmt.Fprintf(w, "totpd: "+format+"\n", args...) }
}

// Stderr is To(os.Stderr): the default of a part given no logger.
var Stderr = To(os.Stderr)
