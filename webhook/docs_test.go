package webhook

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// TestDocsListEveryFlag: docs/webhook.md names every flag of mesh-webhook.
func TestDocsListEveryFlag(t *testing.T) {
	doc, err := os.ReadFile("../docs/webhook.md")
	if err != nil {
		t.Fatal(err)
	}
	var o Options
	fs := flag.NewFlagSet("mesh-webhook", flag.ContinueOnError)
	o.BindFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(doc), "`--"+f.Name) && !strings.Contains(string(doc), "--"+f.Name+" ") {
			t.Errorf("docs/webhook.md does not mention --%s", f.Name)
		}
	})
}
