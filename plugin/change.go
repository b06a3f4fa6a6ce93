package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"

	"github.com/kubectl-mesh/kubectl-mesh/plugin/apply"
	"github.com/kubectl-mesh/kubectl-mesh/policies"
)

// applyChange is the tail every changing command shares: check each stage
// of the steps with the policy core (a rejection applies nothing and exits
// 1 with the webhook's text), print the warnings, apply the steps in order,
// and report them as lines or, with -o, as the objects applied (and the
// deleted ones as lines on stderr).
//
// rules raise or lower codes for this change alone: a DestinationRule for a
// host nobody serves is a warning in general (MESH0202), but a command
// that writes one for a host it was given has made a typo.
func applyChange(ctx context.Context, streams genericiooptions.IOStreams, dyn dynamic.Interface, mode apply.DryRun, output string, steps []apply.Step, rules map[string]policies.Severity) error {
	engine, err := policies.NewEngine(ctx, policies.Options{Settings: policies.Settings{Rules: rules}})
	if err != nil {
		return fmt.Errorf("loading policies: %w", err)
	}
	warnings, err := (&apply.Preflight{Engine: engine, Client: dyn}).CheckSteps(ctx, steps)
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	for _, w := range warnings {
		fmt.Fprintf(streams.ErrOut, "Warning: %s\n", w.Text())
	}
	results, err := (&apply.Applier{Client: dyn, DryRun: mode}).ApplySteps(ctx, steps)
	if output == "" {
		// What was done is said even when a later step failed.
		for i := range results {
			fmt.Fprintf(streams.Out, "%s%s\n", steps[i].What, mode.Suffix())
		}
	}
	if err != nil {
		return &ExitError{Code: ExitFailed, Err: err}
	}
	if output == "" {
		return nil
	}
	// -o prints the objects as they now are; what is gone is said on
	// stderr, keeping stdout a stream of documents to apply.
	applied := make([]*unstructured.Unstructured, 0, len(results))
	for i, res := range results {
		if steps[i].Delete {
			fmt.Fprintf(streams.ErrOut, "%s%s\n", steps[i].What, mode.Suffix())
			continue
		}
		applied = append(applied, res)
	}
	if len(applied) == 0 {
		return nil // nothing left to show: no empty List
	}
	return printApplied(streams.Out, output, mode, applied)
}

// refusal maps an engine's error to exit 1, without the sentinel's prefix
// the engine marks refusals with.
func refusal(err, sentinel error) error {
	if errors.Is(err, sentinel) {
		err = errors.New(strings.TrimPrefix(err.Error(), sentinel.Error()+": "))
	}
	return &ExitError{Code: ExitFailed, Err: err}
}
