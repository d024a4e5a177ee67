// Package refusal holds the one error every osgs package wraps when it
// refuses a request before anything changed (bad input: a hostile file, a
// path outside a volume, a dump that would run a program). The targets
// turn it into exit code 2. It imports nothing, so pure packages with fuzz
// targets can use it.
package refusal

import "errors"

// Err marks a request refused before anything changed.
var Err = errors.New("refused")
