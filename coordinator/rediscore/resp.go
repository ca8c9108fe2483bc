package rediscore

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// The RESP2 protocol (https://redis.io/docs/latest/develop/reference/protocol-spec/),
// as much of it as the coordinator's commands and their replies use. A
// reply is never quoted in an error: a server that is not Redis may echo
// what it was sent, a password or a token included.

// Bounds on what a reply may hold.
const (
	maxLine  = 64 << 10 // a status, error or length line
	maxBulk  = 64 << 20 // a bulk string
	maxArray = 1 << 20  // an array's items
	maxDepth = 8        // nested arrays
)

// Error is an error reply of the server, such as "NOSCRIPT No matching
// script" or "WRONGPASS invalid username-password pair".
type Error struct {
	// Msg is the reply, without its leading '-'. A command's arguments
	// are replaced by "[redacted]" wherever it repeats one.
	Msg string
}

// Error formats the reply as "rediscore: the server answered MSG".
func (e *Error) Error() string { return "rediscore: the server answered " + e.Msg }

// code returns the error's code, its first word ("NOSCRIPT").
func (e *Error) code() string {
	c, _, _ := strings.Cut(e.Msg, " ")
	return c
}

// errProtocol is a reply that is not RESP2.
var errProtocol = errors.New("rediscore: the server's reply is not RESP (is it Redis?)")

// writeCommand writes args as a RESP array of bulk strings.
func writeCommand(w *bufio.Writer, args []string) error {
	w.WriteByte('*')
	w.WriteString(strconv.Itoa(len(args)))
	w.WriteString("\r\n")
	for _, a := range args {
		w.WriteByte('$')
		w.WriteString(strconv.Itoa(len(a)))
		w.WriteString("\r\n")
		w.WriteString(a)
		w.WriteString("\r\n")
	}
	return w.Flush()
}

// readReply reads one reply: string for a status or a bulk string, int64
// for an integer, nil for a nil bulk string or array, []any for an
// array, and an *Error for an error reply at the top level (one within an
// array is an item). Any other error leaves the connection out of step.
func readReply(r *bufio.Reader) (any, error) {
	v, err := readValue(r, 0)
	if err != nil {
		return nil, err
	}
	if e, ok := v.(*Error); ok {
		return nil, e
	}
	return v, nil
}

func readValue(r *bufio.Reader, depth int) (any, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if len(line) == 0 {
		return nil, errProtocol
	}
	body := string(line[1:])
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return &Error{Msg: body}, nil
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, errProtocol
		}
		return n, nil
	case '$':
		n, err := length(body, maxBulk)
		if err != nil || n < 0 {
			return nil, err
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, err
		}
		if b[n] != '\r' || b[n+1] != '\n' {
			return nil, errProtocol
		}
		return string(b[:n]), nil
	case '*':
		n, err := length(body, maxArray)
		if err != nil || n < 0 {
			return nil, err
		}
		if depth >= maxDepth {
			return nil, errProtocol
		}
		items := make([]any, n)
		for i := range items {
			if items[i], err = readValue(r, depth+1); err != nil {
				return nil, err
			}
		}
		return items, nil
	}
	return nil, errProtocol
}

// length reads a bulk string's or an array's length: -1 (nil) up to max.
func length(s string, max int) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < -1 || n > max {
		return 0, errProtocol
	}
	return n, nil
}

// readLine reads a line ending in CRLF and returns it without them.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errProtocol
	case err != nil:
		return nil, err
	case len(line) < 2 || line[len(line)-2] != '\r':
		return nil, errProtocol
	}
	return line[:len(line)-2], nil
}

// redact replaces every one of secrets that msg repeats with "[redacted]".
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}
