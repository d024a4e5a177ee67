package swarm

import (
	"testing"
	"time"
)

func TestMirrorSource(t *testing.T) {
	tests := []struct {
		name   string
		copies []copyState
		want   int
	}{
		{"none", nil, -1},
		{"no node has the volume", []copyState{{Node: "a"}, {Node: "b"}}, -1},
		{"highest generation wins", []copyState{
			{Node: "a", Has: true, Gen: 5, Content: true, Task: true},
			{Node: "b", Has: true, Gen: 7, Content: true},
		}, 1},
		{"a marked copy beats an unmarked one with content", []copyState{
			{Node: "a", Has: true, Content: true, Task: true},
			{Node: "b", Has: true, Gen: 1},
		}, 1},
		{"unmarked: content beats the empty volume a new task made", []copyState{
			{Node: "a", Has: true, Task: true},
			{Node: "b", Has: true, Content: true},
		}, 1},
		{"equal: the copy the verbs write to", []copyState{
			{Node: "a", Has: true, Gen: 3},
			{Node: "b", Has: true, Gen: 3, Task: true},
		}, 1},
		{"equal in all: by hostname", []copyState{
			{Node: "c", Has: true, Gen: 3},
			{Node: "b", Has: true, Gen: 3},
		}, 1},
		{"a node without the volume is never the source", []copyState{
			{Node: "a", Gen: 9, Content: true, Task: true},
			{Node: "b", Has: true},
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mirrorSource(tt.copies); got != tt.want {
				t.Errorf("mirrorSource = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestNextGen(t *testing.T) {
	now := time.Unix(100, 0)
	tests := []struct {
		name   string
		copies []copyState
		want   int64
	}{
		{"the time", []copyState{{Gen: 5}}, now.UnixNano()},
		{"past a clock that ran ahead", []copyState{{Gen: now.UnixNano() + 10}, {Gen: 1}}, now.UnixNano() + 11},
		{"past an equal one", []copyState{{Gen: now.UnixNano()}}, now.UnixNano() + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextGen(tt.copies, now); got != tt.want {
				t.Errorf("nextGen = %d, want %d", got, tt.want)
			}
		})
	}
}
