// This file owns the bridge from the node's reference-style log lines
// ("[WARN] memberlist: ...") to a *slog.Logger, for Config.SlogLogger. The
// library keeps writing through one *log.Logger; only its destination
// changes, so no other file needs to know about slog.

package memberlist

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strings"
	"time"
)

// slogPeerKey is the attribute that carries the peer address a line names
// with LogAddress or LogConn ("from=ip:port"). It keeps the text form's key,
// so searches for from=10.0.0.1:7946 match either output.
const slogPeerKey = "from"

// newSlogLogLogger returns a *log.Logger whose every line goes to l as one
// structured record. The standard logger's date prefix is off: slog handlers
// stamp records themselves.
func newSlogLogLogger(l *slog.Logger) *log.Logger {
	return log.New(&slogWriter{l: l}, "", 0)
}

// slogWriter turns each Write from a *log.Logger (which writes exactly one
// line per call, under its own lock) into a slog record.
type slogWriter struct {
	l *slog.Logger
}

// Write never fails: a log line that cannot be parsed is still logged, at
// INFO with its text unchanged.
func (w *slogWriter) Write(p []byte) (int, error) {
	line := string(bytes.TrimRight(p, "\r\n"))
	level, msg := splitLevel(line)
	ctx := context.Background()
	if !w.l.Enabled(ctx, level) {
		return len(p), nil
	}
	msg, peer, ok := splitPeer(msg)
	// A record with no program counter: the caller would be this adapter
	// (or log.Logger), which says nothing useful about where the line came
	// from.
	r := slog.NewRecord(time.Now(), level, msg, 0)
	if ok {
		r.AddAttrs(slog.String(slogPeerKey, peer))
	}
	_ = w.l.Handler().Handle(ctx, r)
	return len(p), nil
}

// slogLevels maps the reference's bracketed level tags to slog levels.
// [TRACE] is below DEBUG, as in hclog.
var slogLevels = map[string]slog.Level{
	"TRACE":   slog.LevelDebug - 4,
	"DEBUG":   slog.LevelDebug,
	"INFO":    slog.LevelInfo,
	"WARN":    slog.LevelWarn,
	"WARNING": slog.LevelWarn,
	"ERR":     slog.LevelError,
	"ERROR":   slog.LevelError,
}

// splitLevel parses "[LEVEL] memberlist: message" into the level and the
// bare message. A line without a known tag is INFO, as the standard logger
// gives it no level either; the "memberlist:" prefix is dropped when
// present, since a slog handler can add its own component attribute.
func splitLevel(line string) (slog.Level, string) {
	level := slog.LevelInfo
	if strings.HasPrefix(line, "[") {
		if end := strings.IndexByte(line, ']'); end > 0 {
			if lv, ok := slogLevels[line[1:end]]; ok {
				level = lv
				line = strings.TrimLeft(line[end+1:], " ")
			}
		}
	}
	line = strings.TrimPrefix(line, "memberlist: ")
	return level, line
}

// splitPeer takes the last " from=..." token that LogAddress, LogConn and
// LogStringAddress append out of msg and returns it separately. The token is
// a host:port without spaces, or "<unknown address>".
func splitPeer(msg string) (rest, peer string, ok bool) {
	const tag = "from="
	i := strings.LastIndex(msg, tag)
	if i < 0 || (i > 0 && msg[i-1] != ' ') {
		return msg, "", false
	}
	val := msg[i+len(tag):]
	end := strings.IndexByte(val, ' ')
	if strings.HasPrefix(val, "<") {
		end = strings.IndexByte(val, '>')
		if end >= 0 {
			end++
		}
	}
	if end < 0 {
		end = len(val)
	}
	peer = val[:end]
	if peer == "" {
		return msg, "", false
	}
	return strings.TrimSpace(strings.TrimRight(msg[:i], " ") + val[end:]), peer, true
}
