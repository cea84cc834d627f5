"""The ``mobilevid`` command: a thin face over the package.

Every command imports its heavy dependencies inside its body, so ``--help`` is
instant. User errors (:class:`MobilevidError`, bad flags) become one line on
stderr and exit code 2; tracebacks are for bugs only.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Annotated

import typer

from mobilevid import __version__
from mobilevid.errors import MobilevidError

app = typer.Typer(
    name="mobilevid",
    help="Efficient video recognition on phones: pick a model, export it, verify it, bench it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Options that take several values after one flag (`--variant 560m 1g 2g`), as the
# issue tracker and the papers' users write them; click wants the flag repeated.
MULTI_VALUE_OPTIONS = ("--variant", "-m")

_state = {"verbose": False}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mobilevid {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Show the libraries' own logs.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["verbose"] = verbose


VariantOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--variant", "-m",
        help="Model name(s), e.g. 560m 1g vmf-2g mobile3d-1g x3d-s. See `mobilevid profile --all`.",
    ),
]  # fmt: skip


@app.command()
def profile(
    variant: VariantOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every registered model.")] = False,
    ablations: Annotated[
        bool, typer.Option("--ablations", help="Recount the paper's ablation Tables 6-11.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Params and GMACs (multiply-adds per clip) beside the paper's figures."""
    from mobilevid.counting import profile as profile_one
    from mobilevid.models import list_models, resolve_name
    from mobilevid.models.mobile_former import ABLATIONS

    if all_ and variant:
        raise MobilevidError("use either --variant or --all, not both")
    jobs: list[dict] = []
    if ablations:
        jobs += [
            dict(name=a.model, paper_gmacs=a.paper_gmacs, paper_top1=a.paper_top1,
                 label=f"Table {a.table}: {a.label}", **dict(a.overrides))
            for a in ABLATIONS
        ]  # fmt: skip
    names = list_models() if all_ else [resolve_name(v) for v in variant or []]
    if not names and not jobs:
        names = list_models(family="vmf")
    jobs = [dict(name=n) for n in names] + jobs

    rows = []
    with _progress() as bar:
        task = bar.add_task("counting", total=len(jobs))
        for job in jobs:
            bar.update(task, description=f"counting {job.get('label') or job['name']}")
            rows.append(profile_one(**job))
            bar.advance(task)
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in rows], indent=2))
        return
    _print_profile(rows)


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from mobilevid.ui import stderr_console

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=stderr_console(), transient=True,
    )  # fmt: skip


def _fmt_dev(d: float | None) -> str:
    if d is None:
        return ""
    style = "green" if abs(d) <= 5 else "yellow" if abs(d) <= 10 else "red"
    return f"[{style}]{d:+.1f}%[/{style}]"


def _print_profile(rows) -> None:
    from rich import box
    from rich.table import Table

    from mobilevid.ui import stdout_console

    t = Table(
        title="ours vs paper (GMACs = multiply-adds per clip, BN/elementwise not counted)",
        box=box.SIMPLE_HEAD,
    )
    for col in ("model", "T x H x W", "params M", "paper", "dev", "GMACs", "paper", "dev", "top-1"):
        t.add_column(
            col, justify="left" if col in ("model", "T x H x W") else "right", no_wrap=True
        )
    for r in rows:
        t.add_row(
            r.label or r.variant,
            "x".join(str(s) for s in r.input_shape[2:]),
            f"{r.params / 1e6:.2f}",
            f"{r.paper_params / 1e6:.2f}" if r.paper_params else "",
            _fmt_dev(r.params_dev_pct),
            f"{r.gmacs:.3f}",
            f"{r.paper_gmacs:.2f}" if r.paper_gmacs else "",
            _fmt_dev(r.gmacs_dev_pct),
            f"{r.paper_top1:.1f}" if r.paper_top1 else "",
        )
    stdout_console().print(t)


def _expand_multi(argv: list[str]) -> list[str]:
    """`--variant a b c` -> `--variant a --variant b --variant c`."""
    out: list[str] = []
    flag = None
    for tok in argv:
        if tok in MULTI_VALUE_OPTIONS:
            flag = tok
            out.append(tok)
            continue
        if flag and not tok.startswith("-") and out[-1] != flag:
            out.append(flag)
        elif tok.startswith("-"):
            flag = None
        out.append(tok)
    return out


def main(argv: list[str] | None = None) -> int:
    # typer >= 0.24 vendors click; its exceptions live here (typer is pinned).
    from typer._click import exceptions as click_exc

    args = _expand_multi(list(sys.argv[1:] if argv is None else argv))
    try:
        app(args=args, prog_name="mobilevid", standalone_mode=False)
    except MobilevidError as e:
        typer.echo(f"error: {e}", err=True)
        return 2
    except click_exc.NoArgsIsHelpError:
        return 0
    except click_exc.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "mobilevid"
        typer.echo(f"error: {e.format_message()} (see `{cmd} --help`)", err=True)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        typer.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
