// Package version holds the release of this build, so that the daemon,
// the CLI and the packages agree on one number.
package version

// Version is the release this binary was built from. The Makefile sets it
// from the VERSION file (-ldflags -X); a plain `go build` reports "dev".
var Version = "dev"
