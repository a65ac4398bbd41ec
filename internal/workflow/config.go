package workflow

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/paysettle/settle/internal/settlement"
)

// Config is the handlers' configuration, loaded once from the environment in main.
type Config struct {
	RawBucket       string // RAW_BUCKET
	ProcessedBucket string // PROCESSED_BUCKET
	StateMachineARN string // STATE_MACHINE_ARN (starter only)
	MaxFileBytes    int64  // MAX_FILE_BYTES, default 2 GiB
	Policy          settlement.Policy
	Read            settlement.Options
	RowGroupRows    int64 // ROW_GROUP_ROWS, default table.DefaultRowGroupRows
	// SettingNames is how the handlers' messages name a setting where they run: with the stack's
	// parameter (the zero value, the Lambda functions) or by its environment variable alone (the local
	// engine). Set by the wiring, not read from the environment.
	SettingNames SettingNames
}

// SettingNames says how a message names a setting such as MAX_FILE_BYTES where the handlers run.
type SettingNames int

const (
	// StackParameters names the environment variable and the stack parameter that sets it:
	// "MAX_FILE_BYTES, the stack's MaxFileBytes parameter". The Lambda functions, set by the stack.
	StackParameters SettingNames = iota
	// EnvironmentVariables names the environment variable alone: "MAX_FILE_BYTES". The local engine,
	// which the environment of the command configures.
	EnvironmentVariables
)

// Setting is how a message names the setting held in the environment variable variable and set by the
// stack's parameter parameter.
func (n SettingNames) Setting(variable, parameter string) string {
	if n == EnvironmentVariables {
		return variable
	}
	return variable + ", the stack's " + parameter + " parameter"
}

// DefaultMaxFileBytes bounds a report: a step must finish well inside Lambda's 15 minutes.
const DefaultMaxFileBytes = 2 << 30

// LoadConfig reads the configuration from getenv (os.Getenv in a Lambda main). Only the variables a
// function needs are required by it; missing bucket names are checked by the caller that uses them.
//
//	MAX_REJECTED_ROWS  rows a file may reject and still be published (default 0)
//	BALANCE_CHECK      "on" (default) or "off": an unbalanced batch is an error or a warning
//	MAX_FILE_BYTES     largest report accepted (default 2147483648)
//	MAX_RECORD_BYTES   longest CSV record (default 1048576)
//	SETTLE_TIMEZONES   extra time-zone abbreviations, e.g. "CST=-06:00,IST=+05:30"
//	ROW_GROUP_ROWS     Parquet row-group size in rows
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		RawBucket:       getenv("RAW_BUCKET"),
		ProcessedBucket: getenv("PROCESSED_BUCKET"),
		StateMachineARN: getenv("STATE_MACHINE_ARN"),
		MaxFileBytes:    DefaultMaxFileBytes,
		Policy:          settlement.DefaultPolicy(),
	}
	var err error
	num := func(name string, dst *int64, min int64) {
		v := strings.TrimSpace(getenv(name))
		if v == "" || err != nil {
			return
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < min {
			err = fmt.Errorf("%s=%q: want a whole number >= %d", name, v, min)
			return
		}
		*dst = n
	}
	num("MAX_REJECTED_ROWS", &c.Policy.MaxRejected, 0)
	num("MAX_FILE_BYTES", &c.MaxFileBytes, 1)
	num("ROW_GROUP_ROWS", &c.RowGroupRows, 1024)
	var maxRecord int64
	num("MAX_RECORD_BYTES", &maxRecord, 1024)
	c.Read.MaxRecordBytes = int(maxRecord)
	if err != nil {
		return Config{}, err
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("BALANCE_CHECK"))); v {
	case "", "on", "true", "1":
		c.Policy.BalanceCheck = true
	case "off", "false", "0":
		c.Policy.BalanceCheck = false
	default:
		return Config{}, fmt.Errorf("BALANCE_CHECK=%q: want on or off", v)
	}
	if z := getenv("SETTLE_TIMEZONES"); z != "" {
		zones, err := settlement.ParseZones(z)
		if err != nil {
			return Config{}, fmt.Errorf("SETTLE_TIMEZONES: %w", err)
		}
		c.Read.Zones = zones
	}
	return c, nil
}
