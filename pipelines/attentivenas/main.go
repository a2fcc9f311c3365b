// Command attentivenas runs AttentiveNAS (Wang et al., CVPR 2021) as an
// Apache Beam pipeline of composable stages that read and write Parquet:
//
//	preprocess -> train -> evaluate -> predictor -> search -> evaluate -> pareto -> export
//
// Usage:
//
//	attentivenas <command> [flags]
//
// Commands: run (every stage), preprocess, train, evaluate, search, pareto,
// export, predict, space, bench. `attentivenas <command> --help` lists a
// command's flags, Beam's runner flags included.
//
// Locally the pipeline runs on the Beam SDK's embedded runner (prism, the
// default; --runner=direct also works):
//
//	attentivenas run --preset=quick --data=/usr/share/datasets/fashion-mnist --output=out
//
// On Dataflow, pass the usual flags (see README.md):
//
//	attentivenas run --runner=dataflow --project=P --region=R \
//	    --staging_location=gs://B/staging --output=gs://B/run1 --data=gs://B/fmnist
//
// Beam workers start this same binary with --worker and no command; that
// path reaches beam.Init untouched and never returns.
//
// A command that writes under --output owns it while it runs: it takes the
// output's lock (pqio.AcquireLock), so a second command on the same output
// refuses with a message naming the first, and then finishes what an
// interrupted command left there (pqio.Recover).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/attentivenas/attentivenas/stages/pqio"
)

// command is one subcommand: its flags are registered on flag.CommandLine
// next to Beam's own, so one Parse serves both.
type command struct {
	name    string
	summary string
	flags   func(fs *flag.FlagSet)
	run     func(ctx context.Context) error
	// output, for a command that writes under an output root, returns it
	// (after the flags are parsed): the command holds its lock while it runs.
	output func() string
}

var commands = map[string]*command{}

func addCommand(c *command) { commands[c.name] = c }

var verbose = flag.Bool("v", false, "show the Beam SDK's and runner's INFO logging")

func main() {
	name, args := splitCommand(os.Args[1:])
	cmd := commands[name]
	if name != "" && cmd == nil {
		fmt.Fprintf(os.Stderr, "attentivenas: unknown command %q\n\n", name)
		usage()
		os.Exit(2)
	}
	if cmd != nil && cmd.flags != nil {
		cmd.flags(flag.CommandLine)
	}
	flag.CommandLine.Usage = func() { commandUsage(cmd) }
	if err := flag.CommandLine.Parse(args); err != nil {
		os.Exit(2)
	}
	if !*verbose {
		beamlog.LogLevel = "warn"
	}
	setMemoryLimit()
	setGCPercent()
	beam.Init() // on a worker (--worker) this runs the SDK harness and never returns
	if cmd == nil {
		usage()
		os.Exit(2)
	}
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "attentivenas %s: unexpected arguments %q (flags go before them? every option is a --flag)\n", cmd.name, flag.Args())
		os.Exit(2)
	}
	if err := runCommand(context.Background(), cmd); err != nil {
		fmt.Fprintf(os.Stderr, "attentivenas %s: %v\n", cmd.name, err)
		os.Exit(1)
	}
}

// lockHeld, when set (tests only), is called once a command holds its
// output's lock, before it does anything else.
var lockHeld func(lockPath string)

// runCommand runs cmd, holding its output's lock if it writes one.
func runCommand(ctx context.Context, cmd *command) error {
	if cmd.output == nil {
		return cmd.run(ctx)
	}
	out := cmd.output()
	lock, err := pqio.AcquireLock(ctx, out, pqio.ThisProcess("attentivenas "+strings.Join(os.Args[1:], " ")))
	if err != nil {
		return err
	}
	defer lock.Release(context.WithoutCancel(ctx))
	if lock.Previous != nil {
		fmt.Fprintf(os.Stderr, "attentivenas %s: the previous owner of %s, %s, ended without releasing it (killed?); finishing what it left\n",
			cmd.name, out, lock.Previous)
	}
	if lockHeld != nil {
		lockHeld(lock.Path)
	}
	done, err := pqio.Recover(ctx, out)
	for _, d := range done {
		fmt.Fprintf(os.Stderr, "attentivenas %s: %s\n", cmd.name, d)
	}
	if err != nil {
		return err
	}
	return cmd.run(ctx)
}

// splitCommand takes the command name off the front of the arguments. A
// first argument that is a flag (a worker's --worker, or --help) means no
// command.
func splitCommand(args []string) (string, []string) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return "", args
	}
	return args[0], args[1:]
}

func usage() {
	fmt.Fprintf(os.Stderr, "Usage: attentivenas <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-11s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'attentivenas <command> --help' for a command's flags.\n")
}

// commandUsage lists the command's own flags first, then Beam's.
func commandUsage(cmd *command) {
	if cmd == nil {
		usage()
		return
	}
	fmt.Fprintf(os.Stderr, "Usage: attentivenas %s [flags]\n\n%s\n\nFlags:\n", cmd.name, cmd.summary)
	own := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	if cmd.flags != nil {
		cmd.flags(own)
	}
	own.VisitAll(func(f *flag.Flag) { printFlag(f) })
	fmt.Fprintf(os.Stderr, "  -v\tshow Beam's INFO logging\n\nBeam runner flags (e.g. --runner=prism|direct|dataflow):\n")
	var beamFlags []*flag.Flag
	flag.CommandLine.VisitAll(func(f *flag.Flag) {
		if own.Lookup(f.Name) == nil && f.Name != "v" && !strings.HasPrefix(f.Name, "test.") {
			beamFlags = append(beamFlags, f)
		}
	})
	slices.SortFunc(beamFlags, func(a, b *flag.Flag) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range beamFlags {
		fmt.Fprintf(os.Stderr, "  --%s\n", f.Name)
	}
}

func printFlag(f *flag.Flag) {
	def := ""
	if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
		def = fmt.Sprintf(" (default %s)", f.DefValue)
	}
	fmt.Fprintf(os.Stderr, "  --%s\n    \t%s%s\n", f.Name, f.Usage, def)
}
