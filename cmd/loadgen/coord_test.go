package main

import (
	"io"
	"strings"
	"testing"
)

func TestTargetsCarryTheirEngineIOVersion(t *testing.T) {
	o, err := parseOptions("fanout", []string{"--targets", "floor=http://a,v3/3=http://b,v4/4=http://c", "--eio", "3"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []targetSpec{{name: "floor", urls: []string{"http://a"}}, {name: "v3", urls: []string{"http://b"}, eio: 3}, {name: "v4", urls: []string{"http://c"}, eio: 4}}
	for i, w := range want {
		g := o.targets[i]
		if g.name != w.name || g.urls[0] != w.urls[0] || g.eio != w.eio {
			t.Errorf("target %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestTargetsRefuseABadEngineIOVersion(t *testing.T) {
	for _, bad := range []string{"v5/5=http://a", "/4=http://a", "v4/4=http://a --polling 0.5"} {
		args := append([]string{"--targets"}, strings.Fields(bad)...)
		if _, err := parseOptions("fanout", args, func(string) string { return "" }, io.Discard); err == nil {
			t.Errorf("--targets %s: no error", bad)
		}
	}
}
