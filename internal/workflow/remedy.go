package workflow

import (
	"regexp"
	"strconv"
	"strings"
)

// Remedy is what would let a rejected file through, read from its error: the settings a reprocess
// would need. Advice says in general what to do about each data error; Remedy fits it to one file, so
// that an operator's tool can print the exact command (a reprocess allowing the 13 rows this file
// rejected, with the balance check off for this batch, replacing the committed file).
type Remedy struct {
	// Rejected is the number of rows the file rejected when they were more than allowed (0: not why).
	Rejected int64
	// Unbalanced is set when the batch does not balance with the balance check on.
	Unbalanced bool
	// Replace is set when another file is committed for the batch (a ConflictError).
	Replace bool
	// TooLarge is set when the file is over MAX_FILE_BYTES.
	TooLarge bool
}

var rowsRejected = regexp.MustCompile(`\b(\d+) of \d+ rows rejected \(at most \d+ allowed\)`)

// RemedyFor reads the remedy of a data error from its name and message (the errorMessage of the
// execution's cause, which ValidationError, ConflictError and InvalidFileError write).
func RemedyFor(name, message string) Remedy {
	var r Remedy
	switch name {
	case errValidation:
		if m := rowsRejected.FindStringSubmatch(message); m != nil {
			r.Rejected, _ = strconv.ParseInt(m[1], 10, 64)
		}
		r.Unbalanced = strings.Contains(message, "batch does not balance in ")
	case errConflict:
		r.Replace = true
	case DataErrors[0]: // InvalidFileError
		r.TooLarge = strings.Contains(message, "(MAX_FILE_BYTES")
	}
	return r
}
