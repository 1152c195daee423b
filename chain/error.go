package chain

import (
	"errors"
	"fmt"
)

// ErrorCode names the rule a block broke, with PROTOCOL.md's reason codes.
type ErrorCode int

// The reason codes of PROTOCOL.md section 1.
const (
	PreviousHashBlockError ErrorCode = iota + 1
	InvalidDifficulty
	InvalidBlockHash
	InvalidMessage
	InvalidSignature
	InvalidTimestamp
	DuplicateMessage
	MalformedBlock
	MissedBlock
)

var codeNames = map[ErrorCode]string{
	PreviousHashBlockError: "PreviousHashBlockError",
	InvalidDifficulty:      "InvalidDifficulty",
	InvalidBlockHash:       "InvalidBlockHash",
	InvalidMessage:         "InvalidMessage",
	InvalidSignature:       "InvalidSignature",
	InvalidTimestamp:       "InvalidTimestamp",
	DuplicateMessage:       "DuplicateMessage",
	MalformedBlock:         "MalformedBlock",
	MissedBlock:            "MissedBlock",
}

// String returns the protocol's name for the code.
func (c ErrorCode) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return fmt.Sprintf("ErrorCode(%d)", int(c))
}

// RuleError is a block that broke a consensus rule.
type RuleError struct {
	Code        ErrorCode
	Description string
}

// Error renders "<code>: <text>", the form error frames carry.
func (e *RuleError) Error() string { return e.Code.String() + ": " + e.Description }

func ruleErrorf(c ErrorCode, format string, args ...any) *RuleError {
	return &RuleError{Code: c, Description: fmt.Sprintf(format, args...)}
}

// CodeOf returns the rule code in err's chain, or 0 when err is not a rule error.
func CodeOf(err error) ErrorCode {
	var re *RuleError
	if errors.As(err, &re) {
		return re.Code
	}
	return 0
}
