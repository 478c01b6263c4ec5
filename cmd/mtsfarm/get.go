package main

import (
	"context"
	"fmt"

	"github.com/mtsfarm/mtsfarm/proto"
)

func runGet(ctx context.Context, env *cli, args []string) error {
	var c clientFlags
	fs := c.register(env, "get", "get [flags] JOB -o FILE")
	var st storeFlags
	st.register(fs)
	out := fs.String("o", "", "where to write the MP4 (default: the output's name in the current directory)")
	if err := parseFlags(env, fs, args); err != nil {
		return err
	}
	id, err := jobArg(fs)
	if err != nil {
		return err
	}
	nc, err := c.nats.connect("mtsfarm get")
	if err != nil {
		return err
	}
	defer nc.Close()
	var j proto.Job
	if err := apiRequest(ctx, nc, proto.SubjectStatus, proto.JobRequest{Job: id}, &j); err != nil {
		return err
	}
	if j.State != proto.StateDone || j.OutputKey == "" {
		return fmt.Errorf("job %s is %s and has no output yet (mtsfarm watch %s follows it)", id, j.State, id)
	}
	store, err := st.open(ctx)
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = proto.SanitizeName(j.Title) + ".mp4"
	}
	info, err := store.GetFile(ctx, j.OutputKey, path)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", j.OutputKey, err)
	}
	fmt.Fprintf(env.stdout, "%s\t%d bytes\n", path, info.Size)
	return nil
}
