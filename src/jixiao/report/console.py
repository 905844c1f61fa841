"""The console report (rich): findings grouped by annex, severity colours, cell addresses, counts.

`render(result, console)` prints one file; `render_results(results, console)` prints several
plus a total line. A score review (`result.review`, from `jixiao.score`) is printed under the
heading 评分复核 when it offers `rich_table()`; it is duck-typed so this module does not depend
on the score stage.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby
from typing import Any

from ..findings import Finding, Severity, sort_key
from ..result import FileResult
from ..safety import printable

STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_ANNEX_TITLE = {"附件一": "附件一 部门整体支出绩效评价基础数据表", "附件二": "附件二 部门整体支出绩效自评表",
                "附件三": "附件三 项目支出绩效自评表"}
_VERDICT = {0: ("未发现问题", "green"), 1: ("仅有提示", "yellow"), 2: ("有强制性错误", "bold red"),
            3: ("无法检查", "bold magenta")}


def make_console(file: Any = None, *, width: int | None = None, color: bool | None = None) -> Any:
    """A console for the report; when not writing to a terminal, 120 columns (or $COLUMNS)."""
    import os
    import sys

    from rich.console import Console

    stream = file if file is not None else sys.stdout
    if width is None and not (hasattr(stream, "isatty") and stream.isatty()):
        width = int(os.environ.get("COLUMNS", "") or 120)
    return Console(file=file, width=width, no_color=(color is False) or None, highlight=False,
                   force_terminal=True if color else None, soft_wrap=False)


def render_results(results: Sequence[FileResult], console: Any, *, show_info: bool = True,
                   rules_label: str = "") -> None:
    for i, res in enumerate(results):
        if i:
            console.print()
        render(res, console, show_info=show_info, rules_label=rules_label)
    if len(results) > 1:
        console.print()
        console.rule("合计")
        _totals_line(console, results)


def render(result: FileResult, console: Any, *, show_info: bool = True, rules_label: str = "") -> None:
    from rich.markup import escape

    console.rule(f"[bold]{escape(result.path)}")
    if not result.checked:
        console.print(f"[bold magenta]无法检查[/]：{escape(result.failure_message or '')}"
                      f"（{escape(result.failure_code or '')}）")
        return
    model = result.model
    head = []
    if model is not None and model.unit_name:
        head.append(f"单位：{escape(printable(model.unit_name, 60))}")
    if model is not None and model.year:
        head.append(f"年度：{model.year}")
    if rules_label:
        head.append(f"规则包：{escape(rules_label)}")
    if head:
        console.print("   ".join(head), style="dim")
    findings = sorted(result.findings, key=sort_key)
    shown = [f for f in findings if show_info or f.severity is not Severity.INFO]
    if not shown:
        console.print("[green]未发现问题。[/]")
    for (annex, sheet, project), group in groupby(shown, key=lambda f: (f.annex, f.sheet, f.project or "")):
        console.print()
        console.print(_group_table(annex, sheet, project, list(group)))
    notices = list(getattr(model, "notices", None) or [])
    if notices:
        console.print()
        console.print("[bold]文件提示[/]")
        for n in notices:
            where = f"{n.sheet}!{n.cell} " if n.cell else ""
            console.print(f"  · {escape(printable(where))}{escape(printable(n.message))}")
    review = result.review
    table = getattr(review, "rich_table", None) if review is not None else None
    if callable(table):
        console.print()
        console.rule("评分复核")
        console.print(table())
    elif review is not None and callable(getattr(review, "render", None)):
        console.print()
        console.rule("评分复核")
        review.render(console)
    console.print()
    _summary_line(console, result)


def _group_table(annex: str, sheet: str, project: str, findings: list[Finding]) -> Any:
    from rich.table import Table
    from rich.text import Text

    title = _ANNEX_TITLE.get(annex, annex)
    if project:
        title += f"：{project}"
    if sheet and sheet != annex:
        title += f"（工作表“{sheet}”）"
    t = Table(title=title, title_justify="left", title_style="bold", show_lines=False, expand=True,
              header_style="bold")
    t.add_column("级别", no_wrap=True, width=4)
    t.add_column("单元格", no_wrap=True)
    t.add_column("规则", no_wrap=True)
    t.add_column("说明", ratio=1, overflow="fold")
    for f in findings:
        level = Text(f.severity.label, style=STYLE[f.severity])
        cell = f.cell or "—"
        if f.cells:
            cell += "\n" + _other_cells(f.cells)
        text = Text(printable(f.message))  # messages quote cell text: no escape sequences reach the terminal
        if f.interval:
            text.append(f"\n区间：{f.interval}", style="dim")
        if f.explained:
            text.append(f"\n已说明：{printable(f.explanation)}", style="green")
        t.add_row(level, Text(cell, style="bold" if f.severity is Severity.ERROR else ""),
                  Text(f"{f.rule}\n{f.title}" if f.title else f.rule, style="dim"), text)
    return t


def _other_cells(cells: Iterable[str], limit: int = 4) -> str:
    cells = list(cells)
    more = f" 等{len(cells)}格" if len(cells) > limit else ""
    return "另见 " + ", ".join(cells[:limit]) + more


def _counts(results: Iterable[FileResult]) -> tuple[int, int, int, int]:
    e = w = i = explained = 0
    for r in results:
        e += r.count(Severity.ERROR)
        w += r.count(Severity.WARNING, explained=False)
        explained += r.count(Severity.WARNING, explained=True)
        i += r.count(Severity.INFO)
    return e, w, i, explained


def _summary_line(console: Any, result: FileResult) -> None:
    e, w, i, explained = _counts([result])
    verdict, style = _VERDICT[result.exit_code]
    extra = f"（另有 {explained} 处提示已说明）" if explained else ""
    console.print(f"[bold red]强制 {e}[/] · [yellow]提示 {w}[/]{extra} · [cyan]信息 {i}[/]   "
                  f"结论：[{style}]{verdict}[/]")


def _totals_line(console: Any, results: Sequence[FileResult]) -> None:
    e, w, i, _ = _counts(results)
    failed = sum(1 for r in results if not r.checked)
    worst = max((r.exit_code for r in results), default=0)
    verdict, style = _VERDICT[worst]
    console.print(f"共 {len(results)} 个文件（无法检查 {failed} 个）：[bold red]强制 {e}[/] · [yellow]提示 {w}[/] · "
                  f"[cyan]信息 {i}[/]   结论：[{style}]{verdict}[/]")
