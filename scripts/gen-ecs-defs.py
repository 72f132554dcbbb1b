#!/usr/bin/env python3
"""Extract the ECS definitions pverec's -f ecs is checked against into tests/data/ecs/.

Why: issue 16 asks that the ECS documents be checked against the Elastic Common Schema itself,
version pinned. The test (tests/integration/ecs.rs) reads what this script wrote, so it needs no
network and no copy of elastic/ecs: the files are committed, with the tag they come from.

What: from a clone of github:elastic/ecs at tag v9.4.0 (commit 354fd8d0ca99), its flat field list
`generated/csv/fields.csv` as it is, and from `generated/ecs/ecs_flat.yml` the allowed values of
event.kind, event.category, event.type and event.outcome, with each category's expected types.

Usage: python3 scripts/gen-ecs-defs.py ECS_GIT_DIR   (a bare or normal clone; reads the tag)
"""
import json
import subprocess
import sys
from pathlib import Path

TAG = "v9.4.0"
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "ecs"


def show(git_dir, path):
    return subprocess.run(["git", "--git-dir", git_dir, "show", f"{TAG}:{path}"],
                          check=True, capture_output=True).stdout


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    git_dir = sys.argv[1]
    import yaml  # python3-yaml; only this script needs it
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "fields-9.4.0.csv").write_bytes(show(git_dir, "generated/csv/fields.csv"))
    flat = yaml.safe_load(show(git_dir, "generated/ecs/ecs_flat.yml"))
    allowed = {}
    for field in ("event.kind", "event.category", "event.type", "event.outcome"):
        values = {}
        for v in flat[field]["allowed_values"]:
            values[v["name"]] = v.get("expected_event_types", [])
        allowed[field] = values
    text = json.dumps({"ecs": TAG, "allowed": allowed}, indent=1, sort_keys=True) + "\n"
    (OUT / "allowed-9.4.0.json").write_text(text)


if __name__ == "__main__":
    main()
