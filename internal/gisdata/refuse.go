package gisdata

import (
	"fmt"

	"github.com/osgs/osgs/internal/refusal"
)

// ErrRefused marks bad input refused before anything changed: a missing or
// empty file, an unsupported format, an existing table without -mode, a
// layer that isn't there. Targets exit with 2 for it.
var ErrRefused = refusal.Err

type refusedError struct{ msg string }

func (r *refusedError) Error() string        { return r.msg }
func (r *refusedError) Is(target error) bool { return target == ErrRefused }

func refuse(format string, args ...any) error {
	return &refusedError{msg: fmt.Sprintf(format, args...)}
}

// Refuse makes an ErrRefused error, for other packages' bad input.
func Refuse(format string, args ...any) error { return refuse(format, args...) }
