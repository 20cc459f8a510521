"""`companion list | run | book | plan` — the command line of the book.

    companion list
    companion run NAME --preset {smoke,cpu,paper,binder} [--out DIR] [--data-dir DIR] [--device auto|cpu|cuda] [-p KEY=VALUE ...]
    companion book [--preset cpu] [--data-dir DIR] [--device auto|cpu|cuda] [--chapters A B] [--scheduler local:N|ADDR]
    companion plan [--preset paper] [--device cpu|cuda] [--gpu h100|h100-pcie|h200|a100|a100-40gb] [--recalibrate] [--fit]
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from companion.book.chapters import ALL_PRESETS, PRESETS, ChapterError, chapter_names, parse_override

#: GPU classes `companion plan --gpu` knows (their datasheet values are in companion.book.plan.GPU_CLASSES)
GPU_CHOICES: tuple[str, ...] = ("h100", "h100-pcie", "h200", "a100", "a100-40gb")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="companion", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="print the chapter names, one per line")

    def common(sp: argparse.ArgumentParser, default_preset: str | None) -> None:
        sp.add_argument("--preset", choices=ALL_PRESETS, default=default_preset, required=default_preset is None,
                        help="smoke (tests, ≤ 60 s), cpu (the default book on a laptop), paper (full scale, GPU), "
                             "binder (what the published notebooks run: ≤ 2 GB, a few minutes)")
        sp.add_argument("--data-dir", default=None,
                        help="folder holding the data sets (else $COMPANION_DATA_DIR, else the user cache)")
        sp.add_argument("--device", default="auto", metavar="{auto,cpu,cuda,cuda:N}",
                        help="auto = CUDA when present, else CPU; cuda:N picks one GPU")

    run = sub.add_parser("run", help="execute one chapter with papermill and check its claims")
    run.add_argument("name", help="chapter name (see `companion list`)")
    common(run, None)
    run.add_argument("--out", default=".", help="folder for NAME.ipynb and NAME.claims.json (default: .)")
    run.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a preset parameter (value read as YAML); repeatable")

    book = sub.add_parser("book", help="run every chapter and build the HTML book")
    common(book, "cpu")
    book.add_argument("--chapters", nargs="*", default=None,
                      help="run only these chapters (the others keep their results if built at this preset)")
    book.add_argument("--scheduler", default=None,
                      help="run the chapters as tasks on Dask: local:N (a LocalCluster of N workers) or a scheduler "
                           "address tcp://HOST:PORT (default: one after the other in this process)")

    plan = sub.add_parser("plan", help="estimate every chapter's FLOPs, peak memory and wall time, here and on a GPU")
    plan.add_argument("--preset", choices=PRESETS, default="paper")
    plan.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                      help="what the chapters run on here (cuda: this machine's GPU, when it has one)")
    plan.add_argument("--gpu", choices=GPU_CHOICES, default="h100", help="the GPU class of the extrapolated column")
    plan.add_argument("--chapters", nargs="*", default=None, help="only these chapters")
    plan.add_argument("--recalibrate", action="store_true",
                      help="measure this machine's throughputs again (≈ 3 s; else they are read from the cache)")
    plan.add_argument("--fit", action="store_true",
                      help="refit the model's efficiencies on the measured cpu times with this calibration, and use them")
    return p


def plan_command(args: argparse.Namespace) -> int:
    """``companion plan``: the table of :mod:`companion.book.plan`."""
    from companion.book import plan
    from companion.book.chapters import get_chapter, resolve_parameters

    for name in args.chapters or []:
        get_chapter(name)                                    # an unknown name is refused, naming the valid ones
    here, host, gpu = plan.machines(args.device, args.gpu, recalibrate=args.recalibrate)
    fit = plan.FIT
    if args.fit:
        from companion.book.chapters import chapter_names

        costs = {n: plan.chapter_stages(n, resolve_parameters(get_chapter(n), "cpu")) for n in chapter_names()}
        fit = plan.fit(costs, plan.MEASURED_CPU_S, host)
        print(f"fitted: {fit}")
    from companion.book.chapters import chapter_names, project_root
    from companion.book.times import read_timings

    last = {t.chapter: t.measured for t in read_timings(project_root() / "book" / "chapters", chapter_names())
            if t.preset == args.preset and t.device.split()[0].split(":")[0] == args.device}
    if last:
        print(f"measured: the last build's times at {args.preset} (book/chapters/*.claims.json)")
    rows = plan.plan_rows(args.preset, device=args.device, here=here, host=host, gpu=gpu, fit_=fit,
                          chapters=args.chapters, measured=last or None)
    print(plan.format_table(rows, preset=args.preset, device=args.device, here=here, host=host, gpu=args.gpu,
                            fit_=fit))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    log = lambda s: print(s, flush=True)  # noqa: E731
    try:
        if args.command == "list":
            print("\n".join(chapter_names()))
            return 0
        if args.command == "plan":
            return plan_command(args)
        data_dir = args.data_dir or os.environ.get("COMPANION_DATA_DIR") or None
        if args.command == "run":
            from companion.book.runner import run_chapter

            overrides = dict(parse_override(o) for o in args.overrides)
            result = run_chapter(args.name, args.preset, args.out, data_dir=data_dir, device=args.device,
                                 overrides=overrides, log=log, progress=True)
            if result.error:
                print(f"error: {result.error}\n(see the executed notebook {result.notebook})", file=sys.stderr)
                return 1
            if result.failing_claims:
                print("failing claims:\n  " + "\n  ".join(result.failing_claims), file=sys.stderr)
                return 1
            print(f"wrote {result.notebook} and {result.claims_path}")
            return 0
        if args.command == "book":
            from companion.book.runner import build_book

            res = build_book(preset=args.preset, data_dir=data_dir, device=args.device,
                             chapters=args.chapters, log=log, progress=True,
                             scheduler=args.scheduler)
            if res.build.returncode != 0:
                print(res.build.stdout[-6000:], res.build.stderr[-6000:], sep="\n", file=sys.stderr)
                print("error: jupyter-book build failed (warnings are errors)", file=sys.stderr)
                return 1
            print(f"book built in {res.wall_time_s:.0f} s: {res.html}")
            bad = [r.summary() for r in res.runs if not r.ok]
            if bad:
                print("the book shows these failures:\n  " + "\n  ".join(bad), file=sys.stderr)
                return 1
            return 0
    except ChapterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
