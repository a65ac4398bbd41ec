package main

import (
	"bufio"
	"fmt"
	"strings"
)

// The commands that change many things or replace data (redrive --all-failed, dlq redrive without
// message ids, reprocess --replace, replay) show their plan and ask first. On a terminal they ask y/N;
// anywhere else (a script, a pipe, CI) they need --yes, so that nothing runs by accident.

// confirm asks whether to go ahead with what the plan just printed says: nil to go ahead. Without a
// terminal it is a usage error (exit status 2) naming --yes; an answer other than y or yes is exit
// status 1, with nothing changed.
func (a *app) confirm(command, question string) error {
	if !a.stdinTerminal() {
		return usageError("%s changes things and asks first, but standard input is not a terminal: pass --yes to go ahead (--dry-run shows the plan)", command)
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	answer, _ := bufio.NewReader(a.stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return failed("cancelled; nothing was changed")
}
