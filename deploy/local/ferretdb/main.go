// Command ferretdb runs an embedded FerretDB (MongoDB wire protocol) with the
// SQLite backend, for local development and tests of Muster.
//
// It embeds the public package github.com/FerretDB/FerretDB/ferretdb, which
// needs no generated build/version files and never enables telemetry.
//
// Flags (each also settable through the environment variable shown):
//
//	-listen-addr  MUSTER_FERRETDB_LISTEN   (default 127.0.0.1:27017)
//	-data-dir     MUSTER_FERRETDB_DATA_DIR (default ./ferretdb-data)
//	-log-level    MUSTER_FERRETDB_LOG_LEVEL (debug|info|warn|error, default info)
//
// Logs go to stderr. SIGINT/SIGTERM stop it gracefully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func main() {
	listen := flag.String("listen-addr", envOr("MUSTER_FERRETDB_LISTEN", "127.0.0.1:27017"), "TCP address to listen on")
	dataDir := flag.String("data-dir", envOr("MUSTER_FERRETDB_DATA_DIR", "ferretdb-data"), "directory for SQLite databases")
	logLevel := flag.String("log-level", envOr("MUSTER_FERRETDB_LOG_LEVEL", "info"), "log level: debug, info, warn, error")
	flag.Parse()

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb: bad -log-level %q: %v\n", *logLevel, err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(logger)

	if err := run(*listen, *dataDir, logger); err != nil {
		logger.Error("ferretdb failed", "error", err)
		os.Exit(1)
	}
}

func run(listen, dataDir string, logger *slog.Logger) error {
	if listen == "" {
		return errors.New("empty -listen-addr")
	}

	dir, err := filepath.Abs(dataDir)
	if err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err = os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	// The SQLite backend wants a URI naming a directory, ending in "/".
	sqliteURL := "file:" + strings.TrimSuffix(dir, "/") + "/"

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// Run must have started before the listener address is known.
	logger.Info("FerretDB ready", "listen", listen, "sqlite_url", sqliteURL, "pid", os.Getpid())

	select {
	case err = <-done:
		return err
	case <-ctx.Done():
	}

	logger.Info("shutting down")
	select {
	case err = <-done:
		if err == nil {
			logger.Info("stopped")
		}
		return err
	case <-time.After(15 * time.Second):
		return errors.New("shutdown timed out")
	}
}
