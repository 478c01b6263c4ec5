// Command mtsfarm turns MTS Link webinar recordings into finished MP4s, in
// one process (mtsfarm run) or as a farm of coordinator, fetcher and renderer
// processes on NATS JetStream and S3. Each subcommand lives in its own file;
// this file only dispatches and sets up logging and signals.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/mtsfarm/mtsfarm/proto"
)

// command is one subcommand: its name, a one-line summary for help, and its
// entry point, which parses its own flags from args.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *cli, args []string) error
}

// commands is the table of subcommands, in the order help prints them.
func commands() []command {
	return []command{
		{"run", "render one recording in this process (embedded farm)", runRun},
		{"coordinator", "run a farm coordinator (job API, dispatch, finalize)", runCoordinator},
		{"fetcher", "run a farm fetcher (resolve flows, download media and slides from MTS Link)", runFetcher},
		{"renderer", "run a farm renderer (render units with NVENC or libx264)", runRenderer},
		{"archive", "archive a whole course (a list of URLs or a manifest), skipping what is done", runArchive},
		{"submit", "submit recording URLs to a farm", runSubmit},
		{"status", "show a job, or every job", runStatus},
		{"list", "list jobs, newest first", runList},
		{"watch", "follow a job's events until it ends", runWatch},
		{"cancel", "cancel a job", runJobAction(proto.SubjectCancel, "cancel")},
		{"retry", "retry the failed parts of a job", runJobAction(proto.SubjectRetry, "retry")},
		{"get", "download a job's finished MP4", runGet},
		{"plan", "print the render plan of a recording (--flow FILE or URL) as JSON", runPlan},
		{"probe", "ask a role's --http listener whether it is ready (container health checks)", runProbe},
		{"fake-mts", "serve a fake MTS Link for a scenario file (tests, demos)", runFakeMTS},
		{"version", "print the version", runVersion},
		{"help", "list the subcommands, or describe one: help COMMAND", runHelp},
	}
}

// cli is what every subcommand gets: its streams and the process environment.
type cli struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

// errUsage marks a command-line mistake: the message is printed with a hint
// and the exit status is 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, &cli{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

// run dispatches args to a subcommand and returns the exit status.
func run(ctx context.Context, env *cli, args []string) int {
	if len(args) == 0 {
		printHelp(env.stderr)
		return 2
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "-help" {
		name = "help"
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, env, args[1:])
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.stderr, "mtsfarm %s: %v\nRun 'mtsfarm help %s' for usage.\n", name, err, name)
			return 2
		default:
			fmt.Fprintf(env.stderr, "mtsfarm %s: %v\n", name, err)
			return 1
		}
	}
	fmt.Fprintf(env.stderr, "mtsfarm: unknown command %q\n\n", name)
	printHelp(env.stderr)
	return 2
}

func printHelp(w io.Writer) {
	fmt.Fprint(w, "mtsfarm turns MTS Link webinar recordings into finished MP4s.\n\nUsage: mtsfarm COMMAND [flags] [args]\n\nCommands:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nEvery flag can also be set from the environment: --mts-base-url is MTSFARM_MTS_BASE_URL.\n")
}

func runHelp(ctx context.Context, env *cli, args []string) error {
	if len(args) == 0 {
		printHelp(env.stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == args[0] && c.name != "help" {
			return c.run(ctx, env, []string{"-h"})
		}
	}
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

// newFlags makes a FlagSet for a subcommand that writes its usage to stdout.
func newFlags(env *cli, name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stdout)
	fs.Usage = func() {
		fmt.Fprintf(env.stdout, "Usage: mtsfarm %s\n\nFlags (each also from MTSFARM_<NAME>):\n", usage)
		fs.PrintDefaults()
	}
	return fs
}

// envName is the environment variable of a flag: mts-base-url → MTSFARM_MTS_BASE_URL.
func envName(flagName string) string {
	return "MTSFARM_" + strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(flagName))
}

// parseFlags applies MTSFARM_* environment values as flag defaults, then
// parses args (flags on the command line win). A bad environment value is a
// usage error that names the variable.
func parseFlags(env *cli, fs *flag.FlagSet, args []string) error {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		if v := env.getenv(envName(n)); v != "" {
			if err := fs.Set(n, v); err != nil {
				return fmt.Errorf("%w: %s=%q: %v", errUsage, envName(n), v, err)
			}
		}
	}
	if err := fs.Parse(flagsFirst(fs, args)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

// flagsFirst moves the flags in args before the positional arguments, so
// `mtsfarm get JOB -o FILE` works like `mtsfarm get -o FILE JOB` (the flag
// package stops at the first positional argument). A flag's value that is a
// separate argument moves with it; everything after "--" stays positional.
func flagsFirst(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // Parse reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	if len(rest) == 0 {
		return flags
	}
	return append(append(flags, "--"), rest...)
}
