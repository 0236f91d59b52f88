"""Summarise a py-spy raw (collapsed) profile: where the samples are, by frame.

    python -m bench.profile_summary bench/results/tmp/profile-....txt [--top 30] [--match TEXT]

Prints the frames holding most samples inclusively (a frame counted once per stack), and
the leaf frames (self time).
"""

import argparse
import collections


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--match", default="", help="only stacks containing this text")
    args = parser.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    total = 0
    with open(args.path) as profile:
        for line in profile:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack or (args.match and args.match not in stack):
                continue
            n = int(count)
            frames = stack.split(";")
            total += n
            for frame in set(frames):
                inclusive[frame] += n
            leaf[frames[-1]] += n
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", leaf)):
        print(f"\n{title}:")
        for frame, n in counter.most_common(args.top):
            print(f"{100 * n / total:6.1f}%  {frame}")


if __name__ == "__main__":
    main()
