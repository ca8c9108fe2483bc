package main

import "io"

func runCompare(args []string, stdout, stderr io.Writer) int { return exitBadInput }
