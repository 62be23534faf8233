// This file owns the status page at /: one self-contained HTML document (no
// external scripts, styles or fonts), rendered on the server so it is
// readable without JavaScript, and refreshed in place every two seconds from
// /members, /health and /events by a small inline script.

package main

import (
	"html/template"
	"net/http"
)

// pageData is what the template renders on first load.
type pageData struct {
	Health  health
	Members []member
	Events  []event
}

func (s *server) page(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The page loads nothing from elsewhere, and says so to the browser.
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	data := pageData{Health: s.health(), Members: s.track.members(s.list), Events: s.track.recentEvents()}
	if err := pageTemplate.Execute(w, data); err != nil {
		s.log.Debug("rendering the status page failed", "err", err)
	}
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>memberlist: {{.Health.Name}}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.3em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #ddd; }
th { font-weight: 600; }
td.mono, span.mono { font-family: ui-monospace, monospace; }
.state { font-weight: 600; }
.alive { color: #1a7f37; } .suspect { color: #b35900; } .dead { color: #c62828; } .left { color: #666; }
.ok { color: #1a7f37; } .bad { color: #c62828; }
#status { color: #666; font-size: .9em; }
</style>
</head>
<body>
<h1>memberlist node <span id="node" class="mono">{{.Health.Name}}</span></h1>
<p>Health score: <span id="score" class="{{if .Health.Healthy}}ok{{else}}bad{{end}}">{{.Health.Score}}</span>
(0 is healthy) &middot; members:
<span id="counts">alive {{index .Health.Members "alive"}}, suspect {{index .Health.Members "suspect"}}, dead {{index .Health.Members "dead"}}, left {{index .Health.Members "left"}}</span></p>
<p id="status">rendered by the server; refreshing every 2s</p>

<h2>Members</h2>
<table>
<thead><tr><th>name</th><th>address</th><th>state</th><th>protocol</th><th>meta (base64)</th></tr></thead>
<tbody id="members">
{{range .Members}}<tr><td class="mono">{{.Name}}</td><td class="mono">{{.Address}}:{{.Port}}</td><td class="state {{.State}}">{{.State}}</td><td>{{.Protocol.Cur}} ({{.Protocol.Min}}-{{.Protocol.Max}})</td><td class="mono">{{.Meta}}</td></tr>
{{end}}</tbody>
</table>

<h2>Recent events</h2>
<table>
<thead><tr><th>time (UTC)</th><th>event</th><th>node</th><th>address</th><th>state</th></tr></thead>
<tbody id="events">
{{range .Events}}<tr><td class="mono">{{.Time.Format "15:04:05.000"}}</td><td>{{.Kind}}</td><td class="mono">{{.Node}}</td><td class="mono">{{.Address}}</td><td class="state {{.State}}">{{.State}}</td></tr>
{{end}}</tbody>
</table>

<script>
"use strict";
// Builds table rows with textContent only, so names and metadata from the
// network are never parsed as HTML.
function row(cells) {
  const tr = document.createElement("tr");
  for (const [text, cls] of cells) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
  }
  return tr;
}
function fill(id, rows) {
  document.getElementById(id).replaceChildren(...rows);
}
async function getJSON(path) {
  const r = await fetch(path, {cache: "no-store"});
  if (!r.ok && r.status !== 503) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}
async function refresh() {
  try {
    const [members, health, events] = await Promise.all([getJSON("/members"), getJSON("/health"), getJSON("/events")]);
    fill("members", members.map(m => row([
      [m.name, "mono"], [m.address + ":" + m.port, "mono"], [m.state, "state " + m.state],
      [m.protocol.cur + " (" + m.protocol.min + "-" + m.protocol.max + ")"], [m.meta, "mono"]])));
    fill("events", events.map(e => row([
      [e.time.substring(11, 23), "mono"], [e.kind], [e.node, "mono"], [e.address, "mono"], [e.state, "state " + e.state]])));
    const score = document.getElementById("score");
    score.textContent = health.health_score;
    score.className = health.healthy ? "ok" : "bad";
    const c = health.members;
    document.getElementById("counts").textContent =
      "alive " + c.alive + ", suspect " + c.suspect + ", dead " + c.dead + ", left " + c.left;
    document.getElementById("status").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (err) {
    document.getElementById("status").textContent = "refresh failed: " + err.message;
  }
}
refresh();
setInterval(refresh, 2000);
</script>
</body>
</html>
`))
