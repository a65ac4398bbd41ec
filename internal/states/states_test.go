package states_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/paysettle/settle/internal/states"
)

type ValidationError struct{}

func (*ValidationError) Error() string { return "bad" }

func TestErrorName(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{&ValidationError{}, "ValidationError"},
		{errors.New("x"), "errorString"},
		{fmt.Errorf("w: %w", errors.New("x")), "wrapError"},
		{"a panic string", "string"},
		{nil, ""},
	} {
		if got := states.ErrorName(tc.v); got != tc.want {
			t.Errorf("ErrorName(%T) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestLambdaCauseRoundTrip(t *testing.T) {
	cause := states.LambdaCause("ValidationError", `rejected: "12,50" not a decimal`)
	if cause != `{"errorMessage":"rejected: \"12,50\" not a decimal","errorType":"ValidationError"}` {
		t.Errorf("LambdaCause = %s", cause)
	}
	if got := states.CauseMessage(cause); got != `rejected: "12,50" not a decimal` {
		t.Errorf("CauseMessage = %q", got)
	}
	if got := states.CauseMessage("plain text"); got != "plain text" {
		t.Errorf("CauseMessage(plain) = %q", got)
	}
}

func TestClosed(t *testing.T) {
	for _, s := range states.Statuses {
		want := s == states.Failed || s == states.TimedOut || s == states.Aborted
		if states.Unsuccessful(s) != want {
			t.Errorf("Unsuccessful(%s) = %v", s, !want)
		}
	}
}
