// This file checks the root package's import graph: programs that embed the
// library must not link Prometheus or an HTTP server of ours, which only the
// agent (cmd/memberlist-agent) uses.

package memberlist

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// httpImportersAllowed are the dependencies that already bring net/http
// into every program that links the library; none of them is ours to
// change. go-metrics imports it for its optional in-memory HTTP endpoint,
// and go-msgpack's codec imports net/rpc (which imports net/http and
// html/template) for its RPC codecs. Anything else importing net/http means
// HTTP code crept into the library.
var httpImportersAllowed = []string{
	"github.com/hashicorp/go-metrics",
	"github.com/hashicorp/go-msgpack/v2/codec",
	"net/rpc",
}

// TestRootPackageDepsLean runs `go list -deps` on the root package: no
// Prometheus package may appear, and net/http and html/template may only
// come in through the few third-party importers above.
func TestRootPackageDepsLean(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-json=ImportPath,Imports", ".")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(stdout)
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		n++
		if strings.Contains(p.ImportPath, "prometheus") {
			t.Errorf("the root package depends on %s; Prometheus belongs in cmd/memberlist-agent", p.ImportPath)
		}
		if strings.HasPrefix(p.ImportPath, "net/http") || slices.Contains(httpImportersAllowed, p.ImportPath) {
			continue
		}
		for _, imp := range p.Imports {
			if imp == "net/http" || imp == "html/template" {
				t.Errorf("%s imports %s, which brings HTTP into every program that embeds the library; keep it in cmd/", p.ImportPath, imp)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list -deps .: %v\n%s", err, stderr.String())
	}
	if n < 10 {
		t.Fatalf("go list listed only %d packages; the check saw nothing", n)
	}
}
