package plugin

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// docFiles are the Markdown pages whose commands users copy: the README and
// every page under docs/.
func docFiles(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join("..", "README.md")}, pages...)
}

// docCommand is one `kubectl mesh ...` command of a page, where it is.
type docCommand struct {
	where string // file:line
	line  string // the shell text it came from
	args  []string
}

// Every `kubectl mesh ...` that the README and docs/ show in a code block
// parses as the plugin would parse it: the command exists and runs, its
// flags are known and well typed, its arguments are as many as it takes.
// Shell blocks (sh, bash, shell) count whole; in other blocks (text,
// console, ...) the lines that start with "$ " are commands, and in YAML
// blocks a one-line `run:` (a CI step) is one.
func TestDocCommandsParse(t *testing.T) {
	total := 0
	for _, path := range docFiles(t) {
		cmds, err := markdownCommands(path)
		if err != nil {
			t.Error(err)
			continue
		}
		for _, c := range cmds {
			if err := parseExample(c.args); err != nil {
				t.Errorf("%s: %q: %v", c.where, c.line, err)
			}
		}
		total += len(cmds)
	}
	if total < 50 {
		t.Errorf("only %d commands found in the docs", total)
	}
	t.Logf("%d commands in the docs parse", total)
}

var (
	fence   = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([A-Za-z0-9_+-]*)")
	yamlRun = regexp.MustCompile(`^\s*(?:-\s+)?run:\s+([^|>\s].*)$`)
)

// markdownCommands returns the kubectl mesh commands of a Markdown file's
// code blocks, split by the same shell reader as the --help examples.
func markdownCommands(path string) ([]docCommand, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var (
		out      []docCommand
		inBlock  bool
		closing  string // the fence that ends the block
		lang     string
		pending  string // a shell line continued with a backslash
		startsAt int
	)
	scanner := bufio.NewScanner(f)
	for n := 1; scanner.Scan(); n++ {
		text := scanner.Text()
		if m := fence.FindStringSubmatch(text); m != nil {
			switch {
			case !inBlock:
				inBlock, closing, lang = true, m[1], strings.ToLower(m[2])
				continue
			case strings.HasPrefix(m[1], closing) && m[2] == "":
				inBlock, pending = false, ""
				continue
			}
		}
		if !inBlock {
			continue
		}
		var shell string
		switch lang {
		case "sh", "bash", "shell", "zsh":
			shell = text
		case "yaml", "yml":
			if m := yamlRun.FindStringSubmatch(text); m != nil {
				shell = m[1]
			}
		default:
			if rest, ok := strings.CutPrefix(strings.TrimLeft(text, " "), "$ "); ok {
				shell = rest
			}
		}
		if pending != "" {
			shell = pending + "\n" + text
		} else {
			startsAt = n
		}
		if shell == "" {
			continue
		}
		if strings.HasSuffix(shell, "\\") {
			pending = shell
			continue
		}
		pending = ""
		lines, err := exampleCommands(shell)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, startsAt, err)
		}
		for _, args := range lines {
			out = append(out, docCommand{where: fmt.Sprintf("%s:%d", path, startsAt), line: shell, args: args})
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, err
	}
	if inBlock {
		return nil, fmt.Errorf("%s: a code block is not closed", path)
	}
	return out, nil
}

// The reader finds commands where a page shows them, and only there.
func TestMarkdownCommands(t *testing.T) {
	page := "Run `kubectl mesh nothing` in prose: not a block.\n" +
		"```sh\n" +
		"kubectl mesh version   # a comment\n" +
		"kubectl mesh canary set reviews v1=90,v2=10 \\\n" +
		"  -n bookinfo\n" +
		"eval \"$(kubectl mesh ingress url -o env)\"\n" +
		"```\n" +
		"```text\n" +
		"$ kubectl mesh status\n" +
		"kubectl mesh output-is-not-a-command\n" +
		"```\n" +
		"```yaml\n" +
		"- run: kubectl mesh validate -f deploy/ -R -o sarif > mesh.sarif\n" +
		"  run: |\n" +
		"```\n" +
		"````md\n" +
		"```sh\n" +
		"kubectl mesh inside-a-md-block\n" +
		"```\n" +
		"````\n"
	path := filepath.Join(t.TempDir(), "page.md")
	if err := os.WriteFile(path, []byte(page), 0o600); err != nil {
		t.Fatal(err)
	}
	cmds, err := markdownCommands(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cmds {
		got = append(got, strings.Join(c.args, " "))
	}
	want := []string{
		"version",
		"canary set reviews v1=90,v2=10 -n bookinfo",
		"ingress url -o env",
		"status",
		"validate -f deploy/ -R -o sarif",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if len(cmds) > 1 && !strings.HasSuffix(cmds[1].where, ":4") {
		t.Errorf("a continued line is reported at %s, want line 4", cmds[1].where)
	}
}

// markdownLink is a link target of inline Markdown: [text](target).
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// Links between the pages lead to files of the repository.
func TestDocLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range docFiles(t) {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range markdownLink.FindAllStringSubmatch(string(data), -1) {
			target, _, _ := strings.Cut(m[1], "#")
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if target == "" { // #anchor: a heading of the same page
				target = filepath.Base(path)
			}
			abs, err := filepath.Abs(filepath.Join(filepath.Dir(path), target))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(abs, root+string(filepath.Separator)) {
				t.Errorf("%s: link %s leaves the repository", path, m[1])
				continue
			}
			if _, err := os.Stat(abs); err != nil {
				t.Errorf("%s: link %s: %v", path, m[1], err)
				continue
			}
			_, fragment, ok := strings.Cut(m[1], "#")
			if !ok || !strings.HasSuffix(abs, ".md") {
				continue
			}
			anchors, err := headingAnchors(abs)
			if err != nil {
				t.Fatal(err)
			}
			if !anchors[fragment] {
				t.Errorf("%s: link %s: no such heading", path, m[1])
			}
		}
	}
}

// headingAnchors returns the anchors GitHub gives a page's headings:
// lower case, punctuation other than - and _ dropped, spaces turned into
// hyphens, and -1, -2 ... added to repeats. Headings in code blocks do not
// count.
func headingAnchors(path string) (map[string]bool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	anchors := map[string]bool{}
	seen := map[string]int{}
	inBlock := false
	for _, line := range strings.Split(string(data), "\n") {
		if fence.MatchString(line) {
			inBlock = !inBlock
			continue
		}
		if inBlock || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var slug strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				slug.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				slug.WriteRune(r)
			}
		}
		anchor := slug.String()
		if n := seen[anchor]; n > 0 {
			seen[anchor]++
			anchor = fmt.Sprintf("%s-%d", anchor, n)
		} else {
			seen[anchor] = 1
		}
		anchors[anchor] = true
	}
	return anchors, nil
}

// The README's table of commands has a row for every command that runs,
// those added later included.
func TestReadmeListsEveryCommand(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "| `kubectl mesh ") {
			rows = append(rows, strings.ReplaceAll(line, `\|`, "|"))
		}
	}
	root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), "kubectl-mesh")
	walkCommands(root.Command, func(cmd *cobra.Command) {
		if !cmd.Runnable() || cmd.HasAvailableSubCommands() || cmd.Name() == "help" {
			return
		}
		path := strings.TrimPrefix(cmd.CommandPath(), root.CommandPath()+" ")
		// A verb of a group may share a row with its siblings: "inject enable|disable".
		parent := strings.TrimPrefix(cmd.Parent().CommandPath(), root.CommandPath())
		for _, row := range rows {
			cell, _, _ := strings.Cut(strings.TrimPrefix(row, "| `kubectl mesh "), "`")
			if cell == path || strings.HasPrefix(cell, path+" ") || sharesRow(cell, parent, cmd.Name()) {
				return
			}
		}
		t.Errorf("README.md: no row for kubectl mesh %s in the table of commands", path)
	})
}

// sharesRow reports whether a table cell like "inject enable|disable NS"
// or "completion bash|zsh" names verb among the alternatives after parent.
func sharesRow(cell, parent, verb string) bool {
	rest, ok := strings.CutPrefix(" "+cell, parent+" ")
	if !ok {
		return false
	}
	first, _, _ := strings.Cut(rest, " ")
	for _, alt := range strings.Split(first, "|") {
		if alt == verb {
			return true
		}
	}
	return false
}
