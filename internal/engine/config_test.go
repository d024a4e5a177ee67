package engine

import "testing"

func TestMaskSecrets(t *testing.T) {
	in := "password: abcdefgh\nother: abcdefghXYZ\nshort: ab\n"
	got := MaskSecrets(in, []string{"abcdefgh", "abcdefghXYZ", "ab"})
	want := "password: ********\nother: ********\nshort: ab\n"
	if got != want {
		t.Fatalf("got %q", got)
	}
}
