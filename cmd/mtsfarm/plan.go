package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mtsfarm/mtsfarm/coordinator/plan"
	"github.com/mtsfarm/mtsfarm/internal/mts"
	"github.com/mtsfarm/mtsfarm/proto"
)

const planUsage = `plan [flags] (--flow FILE | URL)

Print the render plan of a recording as JSON: the output geometry, every media
session, the render units with their windows and layouts, the audio-only
tracks and the slides. The flow comes from a file (--flow, "-" for stdin) or
from MTS Link for a recording URL.`

// runPlan is `mtsfarm plan`.
func runPlan(ctx context.Context, env *cli, args []string) error {
	fs := newFlags(env, "plan", planUsage)
	flowFile := fs.String("flow", "", `flow JSON file ("-" for stdin) instead of a recording URL`)
	unitSeconds := fs.Float64("unit-seconds", plan.DefaultUnitSeconds, "render unit length in seconds")
	maxHeight := fs.Int("max-height", plan.DefaultMaxHeight, "highest output height (360..2160)")
	probesFile := fs.String("probes", "", `JSON file of probed media by session id ({"id": MediaInfo, …}), to plan as after fetching`)
	cookie := fs.String("session-cookie", "", "sessionId cookie for private recordings (with a URL)")
	baseURL := fs.String("mts-base-url", "", "also accept recording URLs under this base URL (a test server)")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	var flow *mts.Flow
	switch {
	case *flowFile != "" && fs.NArg() > 0:
		return fmt.Errorf("%w: give --flow FILE or a recording URL, not both", errUsage)
	case *flowFile != "":
		data, err := readInput(*flowFile, os.Stdin)
		if err != nil {
			return fmt.Errorf("reading the flow: %w", err)
		}
		if flow, err = mts.DecodeFlow(data); err != nil {
			return fmt.Errorf("reading the flow %s: %w", *flowFile, err)
		}
	case fs.NArg() == 1:
		rec, err := mts.ParseURL(fs.Arg(0), *baseURL)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		log, _ := lf.logger(env.stderr)
		client := mts.NewClient()
		client.OnRetry = func(_ mts.Recording, attempt int, retryIn time.Duration, err error) {
			log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", retryIn).Msg("flow request failed; retrying")
		}
		if _, flow, err = client.FetchFlow(ctx, rec, *cookie); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: give --flow FILE or one recording URL", errUsage)
	}
	opts := plan.Options{UnitSeconds: *unitSeconds, MaxHeight: *maxHeight}
	if *probesFile != "" {
		data, err := readInput(*probesFile, nil)
		if err != nil {
			return fmt.Errorf("reading the probes: %w", err)
		}
		if err := json.Unmarshal(data, &opts.Probes); err != nil {
			return fmt.Errorf("reading the probes %s: want a JSON object of session id → media info: %w", *probesFile, err)
		}
	}
	p, err := plan.Plan(flow, opts)
	if err != nil {
		return err
	}
	return writePlan(env.stdout, p)
}

// readInput reads a file, or stdin for "-" when stdin is given.
func readInput(name string, stdin io.Reader) ([]byte, error) {
	if name == "-" && stdin != nil {
		return io.ReadAll(io.LimitReader(stdin, mts.MaxFlowBytes+1))
	}
	f, err := os.Open(name)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", name)
		}
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, mts.MaxFlowBytes+1))
}

func writePlan(w io.Writer, p *proto.Plan) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(p)
}
