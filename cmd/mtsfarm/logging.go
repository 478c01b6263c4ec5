package main

import (
	"flag"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// logFlags are the logging flags every long-running subcommand takes.
type logFlags struct {
	level  string
	format string
}

func (l *logFlags) register(fs *flag.FlagSet) { l.registerLevel(fs, "info") }

// registerLevel registers the logging flags with another default level.
func (l *logFlags) registerLevel(fs *flag.FlagSet, level string) {
	fs.StringVar(&l.level, "log-level", level, "log level: debug, info, warn, error")
	fs.StringVar(&l.format, "log-format", "auto", "log format: json, console, or auto (console on a terminal)")
}

// logger builds the one root logger of the process, writing to w: JSON by
// default, human-readable console lines when w is a terminal.
func (l *logFlags) logger(w io.Writer) (zerolog.Logger, error) {
	return l.loggerVia(w, w)
}

// loggerVia decides the format by the stream stderr (console on a terminal)
// but writes through w: the progress bars, which print log lines above
// themselves instead of tearing through them.
func (l *logFlags) loggerVia(stderr, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(l.level)
	if err != nil || l.level == "" {
		lvl = zerolog.InfoLevel
	}
	console := l.format == "console"
	if l.format == "auto" {
		if f, ok := stderr.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			console = true
		}
	}
	if console {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), err
}
