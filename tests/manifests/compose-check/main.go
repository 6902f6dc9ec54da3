// compose-check loads a Compose file with compose-go, the Compose specification's reference
// loader (the one `docker compose` uses): the file is validated against the specification's
// JSON schema, interpolated, its anchors and merges resolved and its references checked. It
// prints the resolved project as JSON on stdout for tests/e2e/test_manifests.py to assert on.
// Usage: compose-check <compose file>. Exit 1 with the loader's error on stderr when invalid.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-check <compose file>")
		os.Exit(2)
	}
	opts, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv,
		cli.WithConsistency(true), cli.WithResolvedPaths(true))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := json.Marshal(project)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Stdout.Write(out)
}
