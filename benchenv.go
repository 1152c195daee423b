package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"

	"github.com/meshchain/meshchain/internal/plainnode"
)

// Hidden switches for the benchmarks, read from the environment so that
// they stay out of --help and config.toml:
//
//	MESHCHAIN_PLAINNODE='{"listen":…,"peers":[…],"path":…,"difficulty":N}'
//	    runs internal/plainnode instead of meshchain (the spread baseline)
//	MESHCHAIN_CPUPROFILE=FILE
//	    writes a CPU profile of the whole run to FILE on a normal exit
//	    (%p in FILE becomes the process id, for benchmarks that start
//	    several processes)
const (
	envPlainNode  = "MESHCHAIN_PLAINNODE"
	envCPUProfile = "MESHCHAIN_CPUPROFILE"
)

// runPlainNode runs the plain node the spec describes until SIGINT or
// SIGTERM, printing a JSON line on stdout per peer that said hello.
func runPlainNode(spec string) error {
	cfg, err := plainnode.ParseConfig(spec)
	if err != nil {
		return err
	}
	cfg.Events = os.Stdout
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return plainnode.Run(ctx, cfg)
}

// startCPUProfile starts a CPU profile into path (none when path is empty)
// and returns the function that ends it.
func startCPUProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	path = strings.ReplaceAll(path, "%p", strconv.Itoa(os.Getpid()))
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "meshchain: cpu profile:", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(os.Stderr, "meshchain: cpu profile:", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
