"""``report.html``: one self-contained page for the instructor (inline CSS and SVG; no scripts, no CDN).

Student ids, failure messages and reasons come from students: every one is escaped, and the page's
Content-Security-Policy (:data:`.inert.CSP`) forbids script in it.

Per assignment: a histogram of the total scores, the pass rate of every graded part, and the most
frequent failure messages. Then every submission that needs attention (any status but ``ok``)
with its reason and a link to its feedback, and the problems of the class as a whole (e.g. zip
entries that were not extracted).
"""

from __future__ import annotations

import html
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

from .course import AssignmentSpec
from .names import describe, look_alikes
from .results import SEVERITY, STATUSES, Row, format_score

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:72em;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em}h2{margin-top:2em;border-bottom:2px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.8em 0;width:100%}th,td{border-bottom:1px solid #e4e4e4;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f6f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{background:#e9eef7;height:1em;width:12em;display:inline-block;vertical-align:middle}
.bar span{background:#3b6fc2;height:1em;display:block}
.status{font-family:ui-monospace,monospace;font-size:.9em;padding:0 .3em;border-radius:3px;background:#f1f1f1}
.status.bad{background:#fde2e1}.status.warn{background:#fff3cd}.muted{color:#777}
code,pre{font-family:ui-monospace,monospace;font-size:.9em}pre{white-space:pre-wrap;margin:0}
.grid{display:flex;flex-wrap:wrap;gap:2em}.grid>div{flex:1 1 30em}td.who{white-space:nowrap}
"""

BAD = {"grader_error", "suspicious", "missing", "invalid_notebook", "kernel_died", "timeout", "memory", "unsandboxed"}


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def histogram_svg(scores: list[float], max_score: float, title: str) -> str:
    """An inline SVG bar chart of ``scores`` between 0 and ``max_score``."""
    integral = max_score <= 20 and float(max_score).is_integer()
    bins = int(max_score) + 1 if integral else 10
    counts = [0] * bins
    for score in scores:
        if integral:
            index = int(math.floor(score + 1e-9))
        else:
            index = int(score / max_score * bins) if max_score else 0
        counts[min(max(index, 0), bins - 1)] += 1
    labels = [str(i) for i in range(bins)] if integral else \
        [f"{max_score * i / bins:g}–{max_score * (i + 1) / bins:g}" for i in range(bins)]
    width, height, left, bottom, top = 520, 200, 34, 34, 12
    plot_w, plot_h = width - left - 10, height - bottom - top
    peak = max(counts) or 1
    bar_w = plot_w / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}"><title>{_e(title)}</title>',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>']
    for i, count in enumerate(counts):
        h = plot_h * count / peak
        x = left + i * bar_w
        parts.append(f'<rect class="hbar" x="{x + 2:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 4:.1f}" '
                     f'height="{h:.1f}" fill="#3b6fc2"><title>{_e(labels[i])}: {count}</title></rect>')
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" font-size="11" '
                         f'text-anchor="middle">{count}</text>')
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                     f'text-anchor="middle">{_e(labels[i])}</text>')
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" font-size="11" text-anchor="middle">'
                 f'total score (of {max_score:g})</text>')
    parts.append(f'<text x="10" y="{top + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
                 f'transform="rotate(-90 10 {top + plot_h / 2:.1f})">students</text></svg>')
    return "".join(parts)


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


def failure_key(message: str) -> str:
    """A message with its case-specific details (numbers, which case) folded, for counting."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return ""
    first = re.sub(r":\s*(case \d+ of \d+ for seed \d+|a hidden case)\.?$", "", lines[0])
    detail = next((line for line in lines[1:] if line.startswith("likely mistake")), None) or \
        next((line for line in lines[1:] if line.startswith("problem:")), None)
    key = first if detail is None else f"{first} — {detail}"
    return _NUMBER.sub("#", key)[:300]


def _bar(fraction: float) -> str:
    return f'<span class="bar"><span style="width:{100 * fraction:.1f}%"></span></span>'


def _status(status: str) -> str:
    kind = "bad" if status in BAD else ("warn" if status != "ok" else "")
    return f'<span class="status {kind}" title="{_e(STATUSES.get(status, ""))}">{_e(status)}</span>'


def _links(paths: list[str]) -> str:
    return " ".join(f'<a href="{_e(path)}">{_e(Path(path).name)}</a>' for path in paths) or '<span class="muted">—</span>'


def assignment_section(name: str, spec: AssignmentSpec, rows: list[Row]) -> str:
    submitted = [row for row in rows if row.result.graded]
    totals = [row.result.total for row in rows]
    out = [f'<h2 id="{_e(name)}">{_e(name)}</h2>']
    mean = sum(totals) / len(totals) if totals else 0
    ordered = sorted(totals)
    median = (ordered[(len(ordered) - 1) // 2] + ordered[len(ordered) // 2]) / 2 if ordered else 0
    full = sum(1 for t in totals if math.isclose(t, spec.max_score))
    out.append(f"<p>{len(rows)} students, {len(submitted)} submitted; mean {mean:.2f}, median {median:g} "
               f"of {spec.max_score:g}; {full} with full marks.</p>")
    out.append('<div class="grid"><div>')
    out.append(histogram_svg(totals, spec.max_score, f"{name}: total scores"))
    out.append("</div><div>")
    out.append("<table><tr><th>part</th><th>points</th><th>passed</th><th></th></tr>")
    for part in spec.parts:
        scores = [p.score for row in submitted for p in row.result.parts
                  if p.notebook == part.notebook and p.grade_id == part.grade_id]
        passed = sum(1 for s in scores if math.isclose(s, part.points))
        fraction = passed / len(scores) if scores else 0.0
        out.append(f"<tr><td><code>{_e(part.grade_id)}</code></td><td class='num'>{part.points:g}</td>"
                   f"<td class='num'>{passed}/{len(scores)} ({100 * fraction:.0f}%)</td><td>{_bar(fraction)}</td></tr>")
    out.append("</table></div></div>")
    counter: Counter = Counter()
    parts_of: dict[str, set] = defaultdict(set)
    example: dict[str, str] = {}
    for row in submitted:
        if row.status in ("missing", "invalid_notebook", "grader_error") and not any(
                part.message and part.message != "not graded" for part in row.result.parts):
            continue  # not run at all: listed under "needs attention", not a failure of a part
        for part in row.result.parts:
            if part.message and part.message != "not graded" and part.score < part.max_score:
                key = failure_key(part.message)
                counter[key] += 1
                parts_of[key].add(part.grade_id)
                example.setdefault(key, part.message)
    out.append("<h3>Most frequent failures</h3>")
    if counter:
        out.append("<table><tr><th>count</th><th>parts</th><th>message (an example)</th></tr>")
        for key, count in sorted(counter.items(), key=lambda item: (-item[1], item[0]))[:12]:
            out.append(f"<tr><td class='num'>{count}</td><td>{_e(', '.join(sorted(parts_of[key])))}</td>"
                       f"<td><pre>{_e(example[key][:1200])}</pre></td></tr>")
        out.append("</table>")
    else:
        out.append('<p class="muted">No failing parts.</p>')
    return "\n".join(out)


def look_alike_section(students: list[str]) -> list[str]:
    """Groups of ids that show the same to a reader (NFC vs NFD, case, NFKC), each id with its details."""
    groups = look_alikes(students)
    if not groups:
        return []
    out = [f'<h2 id="look-alikes">Student ids that look alike ({len(groups)})</h2>',
           ("<p>These ids differ only by Unicode normalization (e.g. <code>é</code> as one character or as "
            "<code>e</code> plus an accent), by case, or by compatibility forms: each is a separate row, "
            "so check whether they are the same student.</p><ul>")]
    out += [f"<li>{_e(' · '.join(describe(student) for student in group))}</li>" for group in groups]
    out.append("</ul>")
    return out


def render(rows: list[Row], specs: dict[str, AssignmentSpec], problems: list[str], summary: dict) -> str:
    """The whole page."""
    from .inert import CSP_META  # imports nbgrader: only when a report is written

    by_assignment: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        by_assignment[row.result.assignment].append(row)
    students = sorted({row.result.student for row in rows})
    out = ["<!DOCTYPE html>", f'<html lang="en"><head>{CSP_META}<meta charset="utf-8">',
           "<title>Grading report</title>", f"<style>{CSS}</style></head><body>",
           "<h1>Grading report</h1>"]
    out += overview(rows, specs, students, summary)
    out += [assignment_section(name, spec, by_assignment.get(name, [])) for name, spec in specs.items()]
    out += attention_section(rows)
    out += absent_section(rows)
    out += look_alike_section(students)
    out += problems_section(problems)
    out.append("<h2>Statuses</h2><table><tr><th>status</th><th>meaning</th></tr>")
    out += [f"<tr><td>{_status(status)}</td><td>{_e(meaning)}</td></tr>" for status, meaning in STATUSES.items()]
    out.append("</table></body></html>")
    return "\n".join(out) + "\n"


def overview(rows: list[Row], specs: dict[str, AssignmentSpec], students: list[str], summary: dict) -> list[str]:
    """The counts, the run's facts and limits, a warning for unsandboxed rows, the statuses and the links."""
    facts = [f"{len(students)} students, {len(specs)} assignments, {len(rows)} rows"]
    for key, label in (("graded", "graded in this run"), ("reused", "kept from earlier runs"),
                       ("seconds", "seconds"), ("workers", "workers")):
        if key in summary:
            facts.append(f"{summary[key]} {label}")
    out = [f"<p>{_e('; '.join(facts))}.</p>"]
    if "limits" in summary:
        out.append(f'<p class="muted">Limits: {_e(summary["limits"])}.</p>')
    unsandboxed = sum(1 for row in rows if row.result.sandboxed is False)
    if unsandboxed:
        out.append(f'<p class="status bad">{unsandboxed} submission(s) were graded WITHOUT a sandbox '
                   f'(--unsandboxed): their code could read files and use the network while it ran.</p>')
    statuses = Counter(row.status for row in rows)
    out.append("<p>" + " ".join(f"{_status(status)}&nbsp;{count}" for status, count in
                                sorted(statuses.items(), key=lambda item: SEVERITY[item[0]])) + "</p>")
    out.append("<p>" + " · ".join(f'<a href="#{_e(name)}">{_e(name)}</a>' for name in specs) +
               ' · <a href="#attention">needs attention</a> · <a href="#absent">not submitted</a></p>')
    return out


def attention_section(rows: list[Row]) -> list[str]:
    """The graded submissions whose status is not ``ok``, most severe first."""
    attention = sorted((row for row in rows if row.status != "ok" and row.result.graded),
                       key=lambda r: (SEVERITY[r.status], r.result.student, r.result.assignment))
    out = [f'<h2 id="attention">Needs attention ({len(attention)} submissions)</h2>']
    if not attention:
        return out + ['<p class="muted">Nothing: every submission was graded normally.</p>']
    out.append("<table><tr><th>student</th><th>assignment</th><th>status</th><th>score</th>"
               "<th>reason</th><th>feedback</th></tr>")
    for row in attention:
        result = row.result
        out.append(f"<tr><td class='who'>{_e(result.student)}</td><td>{_e(result.assignment)}</td>"
                   f"<td>{_status(row.status)}</td>"
                   f"<td class='num'>{format_score(result.total)}/{format_score(result.max_score)}</td>"
                   f"<td>{_e(row.reason)}</td><td>{_links(result.feedback)}</td></tr>")
    out.append("</table>")
    return out


def absent_section(rows: list[Row]) -> list[str]:
    """Per assignment, the students with no folder for it (nothing when everyone submitted)."""
    absent: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if not row.result.graded:
            absent[row.result.assignment].append(row)
    if not absent:
        return []
    count = sum(len(items) for items in absent.values())
    out = [f'<h2 id="absent">Not submitted ({count})</h2>',
           "<p>Students with no folder for an assignment (status <code>missing</code>, zero).</p>"
           "<table><tr><th>assignment</th><th>students</th></tr>"]
    for name in sorted(absent):
        people = [_absent_student(row) for row in sorted(absent[name], key=lambda r: r.result.student)]
        out.append(f"<tr><td>{_e(name)}</td><td>{', '.join(people)}</td></tr>")
    out.append("</table>")
    return out


def _absent_student(row: Row) -> str:
    extra = [note.text for note in row.extra_notes]
    return _e(row.result.student) + (f' <span class="muted">({_e("; ".join(extra))})</span>' if extra else "")


def problems_section(problems: list[str]) -> list[str]:
    if not problems:
        return []
    return [f"<h2>Problems with the submissions as a whole ({len(problems)})</h2><ul>",
            *(f"<li>{_e(problem)}</li>" for problem in problems), "</ul>"]


def write(path: Path, rows: list[Row], specs: dict[str, AssignmentSpec], problems: list[str], summary: dict) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(render(rows, specs, problems, summary), encoding="utf-8")
    temporary.replace(path)
