package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// The commands that change many things or replace data (redrive --all-failed, dlq redrive without
// message ids, reprocess --replace, replay) show their plan and ask first. On a terminal they ask y/N;
// anywhere else (a script, a pipe, CI) they need --yes, so that nothing runs by accident.

// awsStdin is where the answer is read; awsIsTerminal says whether a person can type it. Tests set both.
var (
	awsStdin      io.Reader = os.Stdin
	awsIsTerminal           = stdinIsTerminal
)

// stdinIsTerminal reports whether standard input is a terminal: a character device other than the null
// device (which is one too, and is what a job without input gets).
func stdinIsTerminal() bool {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// confirm asks whether to go ahead with what the plan just printed says: nil to go ahead. Without a
// terminal it is a usage error (exit status 2) naming --yes; an answer other than y or yes is exit
// status 1, with nothing changed.
func confirm(stderr io.Writer, command, question string) error {
	if !awsIsTerminal() {
		return usageError("%s changes things and asks first, but standard input is not a terminal: pass --yes to go ahead (--dry-run shows the plan)", command)
	}
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(awsStdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: 1, msg: "cancelled; nothing was changed"}
}
