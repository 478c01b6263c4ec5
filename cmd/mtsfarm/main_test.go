package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), &cli{stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}, args)
	return code, out.String(), errb.String()
}

func TestVersionAndHelp(t *testing.T) {
	code, out, _ := runCLI(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "mtsfarm ") {
		t.Fatalf("version: %d %q", code, out)
	}
	code, out, _ = runCLI(t, nil, "help")
	if code != 0 {
		t.Fatalf("help exit %d", code)
	}
	for _, c := range commands() {
		if !strings.Contains(out, "  "+c.name) {
			t.Errorf("help does not list %s", c.name)
		}
	}
	if code, _, errs := runCLI(t, nil, "frobnicate"); code != 2 || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, nil, "version", "--nope"); code != 2 || !strings.Contains(errs, "mtsfarm help version") {
		t.Errorf("bad flag: %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, nil); code != 2 {
		t.Errorf("no args exit %d", code)
	}
}

func TestEnvFlags(t *testing.T) {
	if got := envName("mts-base-url"); got != "MTSFARM_MTS_BASE_URL" {
		t.Fatalf("envName = %q", got)
	}
	env := &cli{getenv: func(k string) string {
		return map[string]string{"MTSFARM_UNIT_SECONDS": "600", "MTSFARM_NAME": "env"}[k]
	}}
	fs := newFlags(&cli{stdout: &bytes.Buffer{}}, "x", "x")
	secs := fs.Int("unit-seconds", 1800, "")
	name := fs.String("name", "", "")
	if err := parseFlags(env, fs, []string{"--name", "flag"}); err != nil {
		t.Fatal(err)
	}
	if *secs != 600 || *name != "flag" {
		t.Fatalf("env default or flag override lost: %d %q", *secs, *name)
	}
	bad := &cli{getenv: func(k string) string { return map[string]string{"MTSFARM_UNIT_SECONDS": "lots"}[k] }}
	fs = newFlags(&cli{stdout: &bytes.Buffer{}}, "x", "x")
	fs.Int("unit-seconds", 1800, "")
	if err := parseFlags(bad, fs, nil); err == nil || !strings.Contains(err.Error(), "MTSFARM_UNIT_SECONDS") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	fs := newFlags(&cli{stdout: &bytes.Buffer{}}, "x", "x")
	out := fs.String("o", "", "")
	force := fs.Bool("force", false, "")
	env := &cli{getenv: func(string) string { return "" }}
	if err := parseFlags(env, fs, []string{"JOB", "-o", "file.mp4", "--force", "--", "-not-a-flag"}); err != nil {
		t.Fatal(err)
	}
	if *out != "file.mp4" || !*force || fs.NArg() != 2 || fs.Arg(0) != "JOB" || fs.Arg(1) != "-not-a-flag" {
		t.Fatalf("o=%q force=%v args=%q", *out, *force, fs.Args())
	}
	fs = newFlags(&cli{stdout: &bytes.Buffer{}}, "x", "x")
	fs.String("o", "", "")
	if err := parseFlags(env, fs, []string{"JOB", "--nope"}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown flag after an argument: %v", err)
	}
}
