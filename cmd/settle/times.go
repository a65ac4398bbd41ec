package main

import (
	"strconv"
	"strings"
	"time"
)

// parseSince reads a --since value: a duration (24h, 90m, 7d) ago, or a time; "" is the beginning.
func parseSince(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, ok := parseDays(s); ok {
		return now.Add(-d), nil
	}
	return parseTime("--since", s, now)
}

func parseDays(s string) (time.Duration, bool) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if v, err := strconv.Atoi(n); err == nil && v >= 0 {
			return time.Duration(v) * 24 * time.Hour, true
		}
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

// parseTime reads a time: RFC 3339, a UTC date or date and minute, "now", or a duration ago.
func parseTime(flagName, s string, now time.Time) (time.Time, error) {
	if s == "now" {
		return now, nil
	}
	if d, ok := parseDays(s); ok {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02T15:04:05", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, usageError("%s %q is not a time: write 2024-05-07T09:00:00Z, 2024-05-07 (UTC) or a duration ago like 6h or 7d", flagName, s)
}
