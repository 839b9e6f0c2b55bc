// Command wirecall is a test helper for the e2e suite: it sends one
// wire.Request (JSON on stdin) to the daemon at $TOTPD_SOCKET with the
// shared client package and prints the outcome as JSON on stdout. The
// suite runs it under other uids to play non-root callers, since
// SO_PEERCRED identifies a whole process.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/totpd/totpd/daemon/client"
	"github.com/totpd/totpd/daemon/wire"
)

// outcome is what wirecall prints.
type outcome struct {
	Response    *wire.Response `json:"response,omitempty"`
	Unavailable string         `json:"unavailable,omitempty"`
}

func main() {
	var req wire.Request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintf(os.Stderr, "wirecall: reading the request: %v\n", err)
		os.Exit(2)
	}
	// The socket is passed explicitly: client.New would ignore
	// $TOTPD_SOCKET for root.
	resp, err := client.New(os.Getenv(client.SocketEnv), 10*time.Second).Call(context.Background(), req)
	var out outcome
	var we *wire.Error
	switch {
	case err == nil, errors.As(err, &we):
		out.Response = resp
	default:
		out.Unavailable = err.Error()
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(2)
	}
}
