package targets

import (
	"errors"
	"fmt"
	"testing"
)

// TestOneLine: an error whose wrapped error said nothing ends without a
// dangling colon, and is one line.
func TestOneLine(t *testing.T) {
	for in, want := range map[error]string{
		fmt.Errorf("GDAL cannot read it: %w", errors.New("")):       "GDAL cannot read it",
		fmt.Errorf("exec psql in postgis: %w", errors.New(" \n")):   "exec psql in postgis",
		fmt.Errorf("a: %w", fmt.Errorf("b: %w", errors.New(""))):    "a: b",
		fmt.Errorf("load x:\n%w", errors.New("line one\nline two")): "load x: line one line two",
		errors.New("ends with a time 12:30"):                        "ends with a time 12:30",
	} {
		if got := oneLine(in); got != want {
			t.Errorf("%q: got %q, want %q", in.Error(), got, want)
		}
	}
}
