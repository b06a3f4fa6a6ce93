package plugin

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/spf13/cobra"
)

// Exit codes shared by every command (the command-line contract).
const (
	ExitOK     = 0
	ExitFailed = 1
	ExitUsage  = 2
)

// ExitError carries an exit code to main. An empty message means the
// command already said why (validate printing its findings, for one).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// usageError is bad usage or unreadable input: exit 2.
func usageError(format string, args ...any) error {
	return &ExitError{Code: ExitUsage, Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error returned by a command to the process exit code:
// ExitError says its own; anything else is a failed action.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return ExitFailed
}

// Silent reports whether the error has nothing left to print.
func Silent(err error) bool {
	var ee *ExitError
	return errors.As(err, &ee) && ee.Err == nil
}

// singleDashLong finds a long flag written with one dash in pflag's error
// for it ("unknown shorthand flag: 'q' in -qps"), as Fortio's and Go's
// flag packages spell them.
var singleDashLong = regexp.MustCompile(`unknown shorthand flag: '.' in -([A-Za-z][A-Za-z0-9-]+)`)

// withDoubleDashHint adds "did you mean --qps" to the error for -qps when
// the command has a --qps flag.
func withDoubleDashHint(cmd *cobra.Command, err error) error {
	m := singleDashLong.FindStringSubmatch(err.Error())
	if m == nil || cmd.Flags().Lookup(m[1]) == nil {
		return err
	}
	return fmt.Errorf("%w: long flags take two dashes here, did you mean --%s?", err, m[1])
}
