package main

import "io"

func runFuzz(args []string, stdout, stderr io.Writer) int { return exitBadInput }
