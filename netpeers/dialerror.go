package netpeers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/coder/websocket"
)

// httpStatusError is a dial answered over HTTP without the WebSocket
// upgrade: whatever listens there is not a meshchain node, or it refuses us.
type httpStatusError struct {
	code   int
	status string
	err    error
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("%s: %v", e.status, e.err) }
func (e *httpStatusError) Unwrap() error { return e.err }

// reservedInvalid reports whether host is under the .invalid top-level
// domain, which RFC 6761 reserves for names that never resolve.
func reservedInvalid(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return host == "invalid" || strings.HasSuffix(host, ".invalid")
}

// inHandshake reports whether err came after the WebSocket upgrade, while
// hellos or auth frames were exchanged.
func inHandshake(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, " hello: ") || strings.Contains(msg, " auth: ") ||
		strings.HasPrefix(msg, "read hello") || strings.HasPrefix(msg, "send hello") ||
		strings.HasPrefix(msg, "read auth") || strings.HasPrefix(msg, "send auth")
}

// DescribeDialError says in plain words why a dial or its handshake
// failed, for the peers table and the dial-failed event ("refused: nothing
// listens there" rather than "dial tcp 127.0.0.1:1: connect: connection
// refused"). The raw error still belongs in the log.
func DescribeDialError(err error) string {
	if err == nil {
		return ""
	}
	var (
		dnsErr *net.DNSError
		status *httpStatusError
		refuse refusedError
		netErr net.Error
	)
	switch {
	case errors.Is(err, ErrSelf):
		return "this node's own address"
	case errors.Is(err, errForgotten):
		return "forgotten"
	case errors.As(err, &refuse):
		return fmt.Sprintf("refused here until %s: %s", refuse.b.until.Local().Format(time.DateTime), refuse.b.reason)
	case errors.As(err, &dnsErr):
		switch {
		case dnsErr.IsNotFound:
			return "host not found"
		case dnsErr.IsTimeout:
			return "host not found (the name server did not answer)"
		}
		return "host not found: " + dnsErr.Err
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused: nothing listens there"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "unreachable: no route to that address"
	case errors.Is(err, syscall.ECONNRESET):
		if inHandshake(err) {
			return "closed by the peer during the handshake"
		}
		return "connection reset by the peer"
	case errors.As(err, &status):
		switch status.code {
		case http.StatusForbidden:
			return "the peer refuses us: we are penalised there (HTTP 403)"
		case http.StatusTooManyRequests:
			return "the peer refuses us: too many connections from here (HTTP 429)"
		case http.StatusServiceUnavailable:
			return "the peer is full or shutting down (HTTP 503)"
		}
		return fmt.Sprintf("not a meshchain node (HTTP %d)", status.code)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "no answer (timed out)"
	}
	msg := err.Error()
	if i := strings.Index(msg, "peer error: "); i >= 0 {
		reason := msg[i+len("peer error: "):]
		switch {
		case strings.HasPrefix(reason, ReasonPenalized):
			return "the peer refuses us: " + strings.TrimPrefix(strings.TrimPrefix(reason, ReasonPenalized), ": ")
		case strings.HasPrefix(reason, ReasonWrongGenesis):
			return "another network: the peer's genesis differs"
		}
		return "the peer refused the handshake: " + reason
	}
	for _, r := range []struct{ code, words string }{
		{ReasonWrongGenesis, "another network: its genesis differs"},
		{ReasonUnsupportedVersion, "speaks another protocol version"},
		{ReasonAuthFailed, "could not prove its node id"},
		{ReasonExpectedHello, "not a meshchain node (no hello)"},
		{ReasonMalformedFrame, "not a meshchain node (bad hello)"},
	} {
		if strings.Contains(msg, r.code+":") {
			return r.words
		}
	}
	if websocket.CloseStatus(err) != -1 {
		var ce websocket.CloseError
		if errors.As(err, &ce) && ce.Reason != "" {
			return "closed by the peer during the handshake: " + ce.Reason
		}
		return "closed by the peer during the handshake"
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return "closed by the peer during the handshake"
	}
	if strings.Contains(msg, "malformed HTTP") || strings.Contains(msg, "readLoopPeekFailLocked") {
		return "not a meshchain node (no HTTP answer)"
	}
	// Something else: its innermost words, without the chain of wrappers.
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}
