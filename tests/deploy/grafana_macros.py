"""Grafana's expansion of a ClickHouse panel query, for running dashboard SQL outside Grafana.

Two steps, as in Grafana: the browser first replaces template variables (`$asset`, `${asset}`,
`${asset:singlequote}`) and `$__conditionalAll(condition, $var)` (the condition, or `1=1` when the
variable is All or empty); the datasource backend then expands its macros as
grafana/clickhouse-datasource pkg/macros does ($__timeFilter, $__timeInterval, $__fromTime, ...).
"""

from __future__ import annotations

import datetime as dt
import re

ALL = "$__all"


def _balanced_args(sql: str, start: int) -> tuple[list[str], int]:
    """The comma-separated arguments of the call whose '(' is at `start`, and the index after ')'."""
    depth, args, buf, i = 0, [], [], start
    while i < len(sql):
        ch = sql[i]
        if ch == "(":
            depth += 1
            if depth > 1:
                buf.append(ch)
        elif ch == ")":
            depth -= 1
            if depth == 0:
                args.append("".join(buf).strip())
                return args, i + 1
            buf.append(ch)
        elif ch == "," and depth == 1:
            args.append("".join(buf).strip())
            buf = []
        else:
            buf.append(ch)
        i += 1
    raise ValueError(f"unbalanced parentheses after position {start} in:\n{sql}")


def _is_all(values: list[str] | None) -> bool:
    return not values or ALL in values


def expand_variables(sql: str, variables: dict[str, list[str]], all_values: dict[str, list[str]] | None = None) -> str:
    """Template variables and $__conditionalAll, as the browser expands them. `variables` maps a name to
    its selected values ([ALL] for All); `all_values` are the options All stands for."""
    all_values = all_values or {}
    out, i = [], 0
    for match in re.finditer(r"\$__conditionalAll\(", sql):
        if match.start() < i:
            continue
        args, end = _balanced_args(sql, match.end() - 1)
        if len(args) != 2:
            raise ValueError(f"$__conditionalAll takes (condition, $variable): {args}")
        name = args[1].lstrip("$").strip("{}")
        out.append(sql[i:match.start()])
        out.append("1=1" if _is_all(variables.get(name)) else args[0])
        i = end
    out.append(sql[i:])
    sql = "".join(out)

    def value(name: str, fmt: str | None) -> str:
        if name.startswith("__"):
            return None
        selected = variables.get(name)
        if selected is None:
            raise AssertionError(f"template variable ${name} is not defined by the dashboard")
        values = all_values.get(name, []) if _is_all(selected) else selected
        if fmt == "singlequote":
            return ",".join("'" + v.replace("'", "\\'") + "'" for v in values)
        return ",".join(values)

    def repl(m: re.Match) -> str:
        name, fmt = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), None)
        got = value(name, fmt)
        return m.group(0) if got is None else got

    return re.sub(r"\$\{(\w+)(?::(\w+))?\}|\$(\w+)", repl, sql)


def expand_macros(sql: str, start: dt.datetime, end: dt.datetime, interval_s: float) -> str:
    """The datasource's server-side macros, as pkg/macros/macros.go expands them."""
    f_s, t_s = int(start.timestamp()), int(end.timestamp())
    f_ms, t_ms = int(start.timestamp() * 1000), int(end.timestamp() * 1000)
    iv_s, iv_ms = max(int(interval_s), 1), max(int(interval_s * 1000), 1)
    with_arg = {
        "timeFilter": lambda c: f"{c} >= toDateTime({f_s}) AND {c} <= toDateTime({t_s})",
        "timeFilter_ms": lambda c: f"{c} >= fromUnixTimestamp64Milli({f_ms}) AND {c} <= fromUnixTimestamp64Milli({t_ms})",
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {iv_s} second)",
        "timeInterval_ms": lambda c: f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {iv_ms} millisecond)",
    }
    plain = {
        "fromTime": f"toDateTime({f_s})", "toTime": f"toDateTime({t_s})",
        "fromTime_ms": f"fromUnixTimestamp64Milli({f_ms})", "toTime_ms": f"fromUnixTimestamp64Milli({t_ms})",
        "interval_s": str(iv_s),
    }
    sql = re.sub(r"\$__(\w+)\(([^()]*)\)",
                 lambda m: with_arg[m.group(1)](m.group(2).strip()) if m.group(1) in with_arg else m.group(0), sql)
    sql = re.sub(r"\$__(\w+)\b(?!\()", lambda m: plain.get(m.group(1), m.group(0)), sql)
    if re.search(r"\$\w|\$\{", sql):
        raise AssertionError(f"unexpanded macro or template variable in:\n{sql}")
    return sql


def panel_sql(sql: str, start: dt.datetime, end: dt.datetime, interval_s: float,
              variables: dict[str, list[str]], all_values: dict[str, list[str]] | None = None) -> str:
    return expand_macros(expand_variables(sql, variables, all_values), start, end, interval_s)


def dashboard_queries(dashboard: dict) -> list[tuple[str, dict]]:
    """(title, target) of every panel target and annotation query of a dashboard."""
    out = [(p["title"], t) for p in dashboard["panels"] for t in p.get("targets", [])]
    out += [(f"annotation: {a['name']}", a["target"]) for a in dashboard["annotations"]["list"] if "target" in a]
    return out
