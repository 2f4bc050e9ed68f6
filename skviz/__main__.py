"""Command line: ``python -m skviz demo --out DIR``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m skviz",
        description="skviz: look inside skorch neural networks.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="train the wine classifier of the docs and draw its activations",
        description=(
            "Train a 13 -> 20 -> 10 -> 3 MLP on scikit-learn's bundled wine data, "
            "print test accuracy and dead units per layer, and write activation "
            "heatmaps (PNG) to a folder."
        ),
    )
    demo.add_argument(
        "--out",
        default="skviz-demo",
        metavar="DIR",
        help="folder for the PNG files, created if missing (default: %(default)s)",
    )
    demo.add_argument(
        "--epochs",
        type=_positive_int,
        default=20,
        help="training epochs (default: %(default)s)",
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=0,
        help="torch random seed (default: %(default)s)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "demo":
        from ._demo import run_demo

        try:
            run_demo(args.out, epochs=args.epochs, seed=args.seed)
        except OSError as exc:
            print(f"skviz demo: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
