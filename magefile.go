//go:build mage

// osgs: the Open Source GIS Stack as typed mage targets.
// List the targets with: go tool mage -l. Help on one: go tool mage -h TARGET.
package main

import (
	//mage:import
	targets "github.com/osgs/osgs/mage"
)

// Default shows the state of every service.
var Default = targets.Stack.Ps

// Aliases are short names for the verbs used most.
var Aliases = map[string]any{
	"up":   targets.Stack.Up,
	"down": targets.Stack.Down,
	"ps":   targets.Stack.Ps,
}
