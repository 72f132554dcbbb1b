#!/usr/bin/env python3
"""Writes tests/data/golden/NAME.out for every case of tests/data/golden/cases.txt with the
pverec given (the release whose output later work must keep byte for byte), as
tests/integration/golden.rs runs them: TZ=Europe/Vienna, LC_ALL=C, stdout only.

    python3 scripts/gen-golden.py --pverec target/release/pverec [--commit COMMIT]
"""
import argparse
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
GOLDEN = DATA / "golden"


def cases():
    for line in (GOLDEN / "cases.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, directory, args = line.split("\t")
            yield name, directory, args.split(" ")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pverec", required=True)
    parser.add_argument("--commit", default="")
    args = parser.parse_args()
    env = dict(os.environ, TZ="Europe/Vienna", LC_ALL="C")
    env.pop("NO_COLOR", None)
    for name, directory, argv in cases():
        out = subprocess.run([os.path.abspath(args.pverec), *argv], cwd=DATA / directory, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=False)
        (GOLDEN / f"{name}.out").write_bytes(out.stdout)
    if args.commit:
        (GOLDEN / "COMMIT").write_text(args.commit + "\n")


if __name__ == "__main__":
    main()
