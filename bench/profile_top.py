"""The top entries of py-spy's collapsed stacks (`--format raw`): frames by self time (where the
samples were taken) and by total time (on the stack at all).

    .venv/bin/python bench/profile_top.py PROFILE.txt [MORE.txt ...] [--top 25]

Without native frames (`--native`), time in C code (the event loop, asyncpg's protocol, httptools)
shows as self time of the Python frame that called it, e.g. `Runner.run` for uvloop's own loop.
"""

import argparse
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path


def read_stacks(paths: Iterable[Path]) -> Counter[tuple[str, ...]]:
    stacks: Counter[tuple[str, ...]] = Counter()
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[tuple(stack.split(";"))] += int(count)
    return stacks


def top_entries(stacks: Counter[tuple[str, ...]], top: int) -> list[str]:
    total = sum(stacks.values())
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for frames, count in stacks.items():
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples; by self time:"]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in own.most_common(top)]
    lines.append("by total time (frames under the event loop's run):")
    nested = [(f, n) for f, n in inclusive.most_common() if n < 0.95 * total][:top]
    lines += [f"  {100 * n / total:5.1f}%  {frame}" for frame, n in nested]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profiles", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    stacks = read_stacks(args.profiles)
    if not stacks:
        print("no samples", file=sys.stderr)
        return 1
    print("\n".join(top_entries(stacks, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
