package plugin

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Every command, those added later included, has a Short, and every
// command that runs (not a group, even one that prints its help) has
// examples; every `kubectl mesh ...` in an example names a command that
// runs and parses: flags known and well typed, arguments as the command
// takes them.
func TestEveryCommandHasExamplesThatParse(t *testing.T) {
	root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), "kubectl-mesh")
	checked := 0
	walkCommands(root.Command, func(cmd *cobra.Command) {
		path := cmd.CommandPath()
		if strings.TrimSpace(cmd.Short) == "" {
			t.Errorf("%s: no Short", path)
		}
		leaf := cmd.Runnable() && !cmd.HasAvailableSubCommands()
		if leaf && strings.TrimSpace(cmd.Example) == "" {
			t.Errorf("%s: no Example", path)
		}
		lines, err := exampleCommands(cmd.Example)
		if err != nil {
			t.Errorf("%s: %v", path, err)
		}
		for _, args := range lines {
			if err := parseExample(args); err != nil {
				t.Errorf("%s: example %q: %v", path, strings.Join(args, " "), err)
			}
			checked++
		}
	})
	if checked < 10 {
		t.Errorf("only %d example lines checked", checked)
	}
	t.Logf("%d example commands parse", checked)
}

// walkCommands calls fn on cmd and every command below it, skipping the
// hidden ones.
func walkCommands(cmd *cobra.Command, fn func(*cobra.Command)) {
	if cmd.Hidden {
		return
	}
	fn(cmd)
	for _, sub := range cmd.Commands() {
		walkCommands(sub, fn)
	}
}

// exampleCommands returns the arguments after `kubectl mesh` of each
// kubectl mesh command in an Example: a whole line, a stage of a pipeline,
// or inside $(...) or <(...).
func exampleCommands(example string) ([][]string, error) {
	var out [][]string
	text := strings.ReplaceAll(example, "\\\n", " ") // continued lines
	for _, line := range strings.Split(text, "\n") {
		cmds, err := shellCommands(line)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", line, err)
		}
		for _, words := range cmds {
			for len(words) > 0 && isAssignment(words[0]) { // FOO=bar kubectl mesh ...
				words = words[1:]
			}
			if len(words) >= 2 && words[0] == "kubectl" && words[1] == "mesh" {
				out = append(out, words[2:])
			}
		}
	}
	return out, nil
}

func isAssignment(word string) bool {
	name, _, ok := strings.Cut(word, "=")
	return ok && name != "" && strings.Trim(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") == ""
}

// parseExample resolves args from a fresh root (flags of one example do not
// leak into the next) the way Execute does, short of running the command.
func parseExample(args []string) error {
	root := NewRootCommand(genericiooptions.NewTestIOStreamsDiscard(), "kubectl-mesh")
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if !cmd.Runnable() || cmd.HasAvailableSubCommands() {
		return fmt.Errorf("%s is a group of commands, not one", cmd.CommandPath())
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	if err := cmd.ValidateRequiredFlags(); err != nil {
		return err
	}
	return cmd.ValidateFlagGroups()
}

// shellCommands splits a line of sh into its simple commands, each a list
// of words: pipelines, &&, ||, ; and & separate commands, and $(...) and
// <(...) give the command inside (the word holding one keeps its text).
// Quotes and backslashes work as in sh, variables stay as written,
// redirections (with their targets) and comments are dropped.
func shellCommands(line string) ([][]string, error) {
	var (
		cmds       [][]string
		words      []string
		word       strings.Builder
		inWord     bool
		redirected bool // the next word is a redirection's target
	)
	endWord := func() {
		if inWord {
			if redirected {
				redirected = false
			} else {
				words = append(words, word.String())
			}
		}
		word.Reset()
		inWord = false
	}
	endCommand := func() {
		endWord()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	rs := []rune(line)
	// substitute reads the $(...) or <(...) starting at rs[at]: its
	// commands join the line's, its text the word's; it returns where it ends.
	substitute := func(at int) (int, error) {
		end, inner, err := substitution(rs, at+1)
		if err != nil {
			return 0, err
		}
		cmds = append(cmds, inner...)
		word.WriteString(string(rs[at : end+1]))
		return end, nil
	}
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case r == ' ' || r == '\t':
			endWord()
		case r == '#' && !inWord:
			i = len(rs)
		case r == '\\':
			if i+1 < len(rs) {
				i++
				word.WriteRune(rs[i])
			}
			inWord = true
		case r == '\'':
			end := slices.Index(rs[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			word.WriteString(string(rs[i+1 : i+1+end]))
			i += end + 1
			inWord = true
		case r == '"':
			j := i + 1
			for ; j < len(rs) && rs[j] != '"'; j++ {
				switch {
				case rs[j] == '\\' && j+1 < len(rs) && strings.ContainsRune("\"\\$`", rs[j+1]):
					j++
					word.WriteRune(rs[j])
				case rs[j] == '$' && j+1 < len(rs) && rs[j+1] == '(':
					end, err := substitute(j)
					if err != nil {
						return nil, err
					}
					j = end
				default:
					word.WriteRune(rs[j])
				}
			}
			if j >= len(rs) {
				return nil, fmt.Errorf("unterminated \"")
			}
			i = j
			inWord = true
		case (r == '$' || r == '<') && i+1 < len(rs) && rs[i+1] == '(':
			end, err := substitute(i)
			if err != nil {
				return nil, err
			}
			i = end
			inWord = true
		case r == '|' || r == '&' || r == ';':
			if r == '&' && i > 0 && rs[i-1] == '>' { // >&2
				redirected = false
				for i+1 < len(rs) && rs[i+1] >= '0' && rs[i+1] <= '9' {
					i++
				}
				continue
			}
			endCommand()
			if i+1 < len(rs) && (rs[i+1] == r || (r == '|' && rs[i+1] == '&')) {
				i++
			}
		case r == '>' || r == '<':
			if inWord && strings.Trim(word.String(), "0123456789") == "" { // 2>
				word.Reset()
				inWord = false
			}
			endWord()
			if i+1 < len(rs) && rs[i+1] == '>' {
				i++
			}
			redirected = true
		default:
			word.WriteRune(r)
			inWord = true
		}
	}
	endCommand()
	return cmds, nil
}

// substitution reads the $(...) or <(...) whose "(" is at rs[open]: the
// index of its ")" and the commands inside.
func substitution(rs []rune, open int) (int, [][]string, error) {
	depth := 0
	var quote rune
	for j := open; j < len(rs); j++ {
		switch r := rs[j]; {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if r == '\\' && quote == '"' {
				j++
			}
		case r == '\'' || r == '"':
			quote = r
		case r == '\\':
			j++
		case r == '(':
			depth++
		case r == ')':
			depth--
			if depth == 0 {
				inner, err := shellCommands(string(rs[open+1 : j]))
				return j, inner, err
			}
		}
	}
	return 0, nil, fmt.Errorf("unterminated %c(", rs[open-1])
}

func TestShellCommands(t *testing.T) {
	for _, tc := range []struct {
		line string
		want [][]string
	}{
		{`kubectl mesh version -o json`, [][]string{{"kubectl", "mesh", "version", "-o", "json"}}},
		{`  kubectl mesh webhook uninstall --dry-run -o yaml   # what would be deleted`, [][]string{{"kubectl", "mesh", "webhook", "uninstall", "--dry-run", "-o", "yaml"}}},
		{`kustomize build overlays/prod | kubectl mesh validate -f - -o json`, [][]string{{"kustomize", "build", "overlays/prod"}, {"kubectl", "mesh", "validate", "-f", "-", "-o", "json"}}},
		{`kubectl mesh validate -f deploy/ -R -o sarif > mesh.sarif`, [][]string{{"kubectl", "mesh", "validate", "-f", "deploy/", "-R", "-o", "sarif"}}},
		{`kubectl mesh load http://$GATEWAY_URL/productpage -H "end-user: jason" 2>&1 >>out.txt`, [][]string{{"kubectl", "mesh", "load", "http://$GATEWAY_URL/productpage", "-H", "end-user: jason"}}},
		{`kubectl mesh webhook install --set 'excludedNamespaces={legacy}' && echo ok; echo "a \"b\""`, [][]string{{"kubectl", "mesh", "webhook", "install", "--set", "excludedNamespaces={legacy}"}, {"echo", "ok"}, {"echo", `a "b"`}}},
		{`source <(kubectl mesh completion bash)`, [][]string{{"kubectl", "mesh", "completion", "bash"}, {"source", "<(kubectl mesh completion bash)"}}},
		{`eval "$(kubectl mesh bookinfo url -o env)" && curl -s "http://$GATEWAY_URL/" | grep -o "<title>.*</title>"`, [][]string{
			{"kubectl", "mesh", "bookinfo", "url", "-o", "env"}, {"eval", "$(kubectl mesh bookinfo url -o env)"},
			{"curl", "-s", "http://$GATEWAY_URL/"}, {"grep", "-o", "<title>.*</title>"}}},
		{`kubectl mesh validate -f - < canary.yaml || exit 1`, [][]string{{"kubectl", "mesh", "validate", "-f", "-"}, {"exit", "1"}}},
		{`a\ b c`, [][]string{{"a b", "c"}}},
		{`# a comment`, nil},
	} {
		got, err := shellCommands(tc.line)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) || len(got) != len(tc.want) {
			t.Errorf("%s\n got %q (%v)\nwant %q", tc.line, got, err, tc.want)
		}
	}
	for _, bad := range []string{`echo 'open`, `echo "open`, `x $(kubectl mesh version`} {
		if _, err := shellCommands(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// The check catches what it is there for.
func TestParseExampleCatches(t *testing.T) {
	for _, args := range [][]string{
		{"verison"},                       // no such command
		{"version", "--output"},           // flag without its value
		{"version", "--colour"},           // unknown flag
		{"version", "extra"},              // arguments the command does not take
		{"inject", "enable"},              // too few
		{"webhook"},                       // a group, not a command
		{"load", "http://x", "-c", "two"}, // a flag's type
	} {
		if err := parseExample(args); err == nil {
			t.Errorf("%q parsed", args)
		}
	}
	for _, args := range [][]string{{"version", "-o", "json"}, {"inject", "enable", "default", "--restart"}, {"-n", "team", "webhook", "status"}} {
		if err := parseExample(args); err != nil {
			t.Errorf("%q: %v", args, err)
		}
	}
}
