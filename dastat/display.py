"""How results read, from plain records: numbers, p-values and column names as text, and the tables and
verdict a ``Ranking`` or ``TuneResult`` shows as its repr or in a notebook; the reports build on them."""

from __future__ import annotations

import math
from html import escape
from typing import Any, Sequence

from .stats.columns import column, direction

NEXT = "distinct_from_next"


def fmt(value: Any) -> str:
    """A number to 4 significant digits, trailing zeros kept (``0.01600`` beside ``0.01506``);
    integers whole, intervals as ``[low, high]``, booleans as yes/no, missing values as –.

    >>> fmt(0.0134512695568), fmt(0.016), fmt([0.0131172923, 0.0137852468]), fmt(2.3e-5), fmt(386.941)
    ('0.01345', '0.01600', '[0.01312, 0.01379]', '2.300e-05', '386.9')
    >>> fmt(True), fmt(None), fmt(65472), fmt(float("nan"))
    ('yes', '–', '65,472', '–')
    """
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(fmt(v) for v in value) + "]"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:#.4g}".rstrip(".").replace(".e", "e")
    return str(value)


def p_text(value: Any) -> str:
    """A p-value, or – when there is none."""
    return "–" if value is None else format_p(float(value))


def format_p(p: float) -> str:
    """A p-value as the tables and figures print it.

    >>> format_p(0.0431), format_p(0.0072), format_p(2.3e-6), format_p(0.0)
    ('0.043', '0.0072', '2.3e-06', '0')
    """
    if not math.isfinite(p):
        return "nan"
    if p == 0:  # a perfect rank correlation under the t approximation
        return "0"
    # Three decimals down to 0.01, four below (0.0072, not 0.007), then scientific.
    return f"{p:.3f}" if p >= 0.01 else f"{p:.4f}" if p >= 0.001 else f"{p:.1e}"


def short_name(name: str) -> str:
    """A column's readable name without its unit: ``short_name("kl_view")`` is ``'KL to the view'``."""
    found = column(name)
    return found.label if found else name


def unit(name: str) -> str | None:
    """A column's unit where known (``"nats"``, ``"%"``), else None."""
    found = column(name)
    return found.unit if found else None


def leading_ties(flags: Sequence[Any]) -> int:
    """How many DAs after the best a chain of adjacent paired tests fails to tell from it.

    ``flags`` are the ranking's ``distinct_from_next``, best first: the best is tied with
    the second when their test is not significant, the second with the third likewise, and
    so on until a test is (or a flag is missing).

    >>> leading_ties([False, False, True, False]), leading_ties([True, False]), leading_ties([None])
    (2, 0, 0)
    """
    count = 0
    for flag in flags[:-1] if len(flags) else []:
        if flag is None or (isinstance(flag, float) and math.isnan(flag)) or bool(flag):
            break
        count += 1
    return count


def present(records: Sequence[dict], key: str) -> bool:
    return any(r.get(key) is not None for r in records)


def _with_interval(record: dict, key: str) -> str:
    ci = record.get(f"{key}_ci")
    text = fmt(record.get(key))
    if ci and all(v is not None for v in ci):
        text += f" (95% CI {fmt(ci[0])} to {fmt(ci[1])})"
    return text


def recommendation(records: Sequence[dict], by: str = "t_stddev", label: str = "da") -> str:
    """What to use, in one sentence of HTML, from ``records`` ranked best first by ``by``.

    With ``dastat rank``'s paired tests against the next DA it names the best DA, those the
    chain of tests does not tell from it (:func:`leading_ties`) and the p-value of
    the first test that separates the leaders from the rest; without them, the DAs whose
    intervals overlap the best one's (a weaker reading, and the sentence says so).
    """
    if not records or records[0].get(by) is None:
        return ""
    name = short_name(by)
    way = direction(by)
    if way is None:
        return (f"Ranked by {escape(name)}, which describes a DA rather than grades it, so the ranking "
                "recommends none.")
    best, names = records[0], [f"<b>{escape(str(r.get(label)))}</b>" for r in records]
    level = f"{'lowest' if way == 'lower' else 'highest'} {escape(name)}, {_with_interval(best, by)}"
    if best.get(NEXT) is not None:
        ties = leading_ties([r.get(NEXT) for r in records])
        if ties == 0:
            return (f"Use {names[0]}: it has the {level}, and a paired test tells it from the next DA, "
                    f"{names[1]} (Holm-corrected p = {p_text(best.get('p_next'))}).")
        tied = _join(names[1:ties + 1])
        text = (f"Use {names[0]}, or equally {tied}: {names[0]} has the {level}, but paired tests do not tell "
                f"{'it' if ties == 1 else 'them'} apart (p = {', '.join(p_text(r.get('p_next')) for r in records[:ties])})")
        rest = len(records) - ties - 1
        if rest == 0:
            return text + "; no DA in this ranking is told from the best."
        return (text + f"; they are ahead of the other {rest} DA{'s' * (rest > 1)} "
                f"(p = {p_text(records[ties].get('p_next'))}).")
    ci = best.get(f"{by}_ci")
    if ci is not None and (len(ci) != 2 or None in ci):  # an interval was due but the images were too few
        return (f"{names[0]} has the {level}, but no interval yet: too few images to say how sure this is "
                "(see the notes), so this is no recommendation.")
    if not ci or len(records) < 2:
        return f"{names[0]} has the {level}."
    # a neighbour without an interval cannot be told from the best either
    overlap = [n for r, n in zip(records[1:], names[1:])
               if not r.get(f"{by}_ci") or None in r[f"{by}_ci"] or _overlaps(ci, r[f"{by}_ci"])]
    if not overlap:
        return f"Use {names[0]}: it has the {level}, and its interval overlaps no other DA's."
    return (f"{names[0]} has the {level}; the intervals of {_join(overlap)} overlap it, so this table alone "
            "(no paired test) does not tell them apart.")


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _overlaps(a: Sequence[Any], b: Sequence[Any]) -> bool:
    return None not in (*a, *b) and a[0] <= b[1] and b[0] <= a[1]


def _header(name: str) -> str:
    """A column's readable name, with its unit and which way is better under it, and its meaning on hover."""
    if name == NEXT:
        return f'<th data-col="{NEXT}" title="paired test against the next DA">vs next<br><span class="u">p-value</span></th>'
    way = direction(name)
    note = " · ".join(filter(None, [unit(name), way and f"{way} better"]))
    meaning = column(name).description if column(name) else ""
    return (f'<th data-col="{escape(name)}" title="{escape(meaning)}">{escape(short_name(name))}'
            + (f'<br><span class="u">{escape(note)}</span>' if note else "") + "</th>")


def _cell(record: dict, column: str) -> str:
    """A value over its 95% interval (or its ± sd over seeds); "≠"/"≈" over the p-value for the next-DA test."""
    value = record.get(column)
    if column == NEXT:
        mark = "–" if value is None else ("≠" if value else "≈")
        return f'<td><span class="v">{mark}</span><br><span class="p">{escape(p_text(record.get("p_next")))}</span></td>'
    parts = [f'<span class="v">{escape(fmt(value))}</span>']
    ci, sd = record.get(f"{column}_ci"), record.get(f"{column}_std")
    if ci is not None:
        parts.append(f'<br><span class="ci">{escape(fmt(ci))}</span>')
    elif sd is not None:
        parts.append(f'<br><span class="sd">± {escape(fmt(sd))}</span>')
    return "<td>" + "".join(parts) + "</td>"


def records_table(records: Sequence[dict], columns: Sequence[str], *, label: str = "da", ranked: bool = True,
                  cls: str = "stats", lead: int = 0) -> str:
    """An HTML table, one row per record: rank, ``label``, then each column's cell (:func:`_cell`);
    the first ``lead`` rows (the best and its ties) are highlighted."""
    name = "DA" if label.lower() == "da" else label
    head = ("<th>#</th>" if ranked else "") + f'<th class="da" data-col="{escape(label)}">{escape(name)}</th>'
    head += "".join(_header(c) for c in columns)
    rows = []
    for i, r in enumerate(records, 1):
        unranked = r.get("rank", i) is None  # a DA without a value is listed, not ranked
        cells = (f"<td>{'–' if unranked else i}</td>" if ranked else "") + f'<td class="da">{escape(fmt(r.get(label)))}</td>'
        rows.append(f'<tr{" class=lead" if i <= lead else ""}>' + cells + "".join(_cell(r, c) for c in columns)
                    + "</tr>")
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], left: Sequence[int] = (1,),
               rule: bool = False) -> str:
    """Columns padded to a common width, left-aligned where ``left`` says, right-aligned elsewhere; with
    ``rule``, a line of dashes under the header."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = [header, *([["-" * w for w in widths]] if rule else []), *rows]
    return "\n".join("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
                     .rstrip() for cells in lines)


def _next_test(record: dict) -> str:
    flag = record.get(NEXT)
    return "" if flag is None else f"{'≠' if flag else '≈'} p={p_text(record.get('p_next'))}"


def ranking_text(ranking: Any) -> str:
    """What ``repr(ranking)`` shows: one line on the run, then one row per DA (value, 95% interval,
    its relative half-width, and the paired test against the next DA), 4 significant digits."""
    records = ranking.to_records()
    by = next((r["rank_by"] for r in records if r.get("rank_by")), "t_stddev")
    ranked = any("rank_by" in r for r in records)
    way = direction(by)
    what = f"Ranking of {len(records)} DAs by {short_name(by)}" if ranked else f"Scores of {len(records)} DAs"
    what += f" ({way} is better, best first)" if ranked and way else ""
    line = f"{what}; 95% intervals; {ranking.total_forward:,} model forwards, {ranking.seconds:.1f} s"
    header = (["#"] if ranked else []) + ["DA", short_name(by), "95% CI", "±%"] + (["vs next"] if ranked else [])
    rows = []
    for i, r in enumerate(records, 1):
        half = r.get("relative_half_width") if by == "t_stddev" else None
        rows.append(([str(i)] if ranked else []) + [str(r.get("da")), fmt(r.get(by)), fmt(r.get(f"{by}_ci")),
                    "–" if half is None else f"{100 * half:.1f}"] + ([_next_test(r)] if ranked else []))
    return line + "\n" + text_table(header, rows, left=(1, 5) if ranked else (0,))


def tune_text(result: Any) -> str:
    """What ``repr(tune_result)`` shows: the best candidate and why the race stopped, then one row per candidate."""
    s = result.settings
    line = (f"Race of {len(result.records)} candidates: best {result.best}; stopped: {s.get('stopped')}; "
            f"{result.total_forward:,} model forwards (scoring every candidate to the budget: "
            f"{result.full_scoring_forward:,})")
    header = ["candidate", "T. stddev", "95% CI", "status", "eliminated after", "forwards"]
    rows = [[str(r["candidate"]), fmt(r["t_stddev"]), fmt(r["t_stddev_ci"]), r["status"],
             fmt(r["eliminated_after"]), fmt(r["n_forward"])] for r in result.records]
    return line + "\n" + text_table(header, rows, left=(0, 3))


def ranking_html(ranking: Any) -> str:
    """A notebook's view of a ``Ranking`` (``_repr_html_``): the verdict and the ranking table."""
    records = ranking.to_records()
    by = next((r["rank_by"] for r in records if r.get("rank_by")), "t_stddev")
    ranked = any("rank_by" in r for r in records)
    columns = [c for c in (by, "n_images", NEXT) if present(records, c)]
    verdict = recommendation(records, by) if ranked else ""
    lead = 1 + leading_ties_of(records) if ranked and direction(by) else 0
    return ((f"<p>{verdict}</p>" if verdict else "")
            + records_table(records, columns, ranked=ranked, lead=lead)
            + f"<p><small>{ranking.total_forward:,} model forwards, {ranking.seconds:.1f} s; each cell: the "
              "estimate over its 95% interval</small></p>")


def tune_html(result: Any) -> str:
    """A notebook's view of a ``TuneResult`` (``_repr_html_``): the best candidate and one row per candidate."""
    s = result.settings
    columns = [c for c in ("t_stddev", "status", "eliminated_after", "n_forward") if present(result.records, c)]
    return (f"<p>Best: <b>{escape(str(result.best))}</b>; stopped: {escape(str(s.get('stopped')))}; "
            f"{result.total_forward:,} model forwards (scoring every candidate to the budget: "
            f"{result.full_scoring_forward:,})</p>"
            + records_table(result.records, columns, label="candidate", ranked=False, cls="tune"))


def leading_ties_of(records: Sequence[dict]) -> int:
    """The DAs after the best that paired tests do not tell from it (0 without tests)."""
    return leading_ties([r.get(NEXT) for r in records]) if records and records[0].get(NEXT) is not None else 0
