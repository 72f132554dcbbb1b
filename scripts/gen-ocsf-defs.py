#!/usr/bin/env python3
"""Extract the OCSF definitions pverec's -f ocsf is checked against into tests/data/ocsf/.

Why: issue 16 asks that the OCSF events be checked against the OCSF schema itself, version
pinned, for required attributes and enum values. The schema's source files are not what a
validator reads: a class `extends` its category's class and base_event, pulls attributes in with
`$include` (and from profiles, which gate them), and takes each attribute's type, array-ness and
base enum from the dictionary. This script resolves all of that once, as the OCSF schema server
does, and writes only what the test needs (tests/integration/ocsf.rs reads it, with no network
and no copy of ocsf-schema): the classes pverec emits and the objects reachable from what it
emits, each attribute with its requirement, type, is_array, enum, sibling and profile; the
dictionary's types reduced to their base type.

What: github:ocsf/ocsf-schema at tag v1.2.0 (commit 7234a336ddcd5a2359e1afa79f9651150061e0dc).

Resolution, as the schema server (github:ocsf/ocsf-server) does it:
- `$include` of a file merges that file's attributes under the including file's own (these win);
  an included profile (`"meta": "profile"`) marks each of its attributes with `profile`, and an
  include's `annotations` are defaults of each of its attributes;
- `extends`: the parent's attributes, resolved, deep-merged under the child's (`"profile": null`
  in a child takes a profile's gate off);
- the dictionary's entry of each attribute deep-merged under the resolved one (an `enum` adds
  its values to the dictionary's 0 Unknown / 99 Other);
- class_uid = category uid * 1000 + class uid; type_uid = class_uid * 100 + activity_id, its
  enum made from the activity enum; an attribute without `requirement` is optional.

Usage: python3 scripts/gen-ocsf-defs.py OCSF_SCHEMA_GIT_DIR   (a bare or normal clone)
"""
import copy
import json
import subprocess
import sys
from pathlib import Path

TAG = "v1.2.0"
COMMIT = "7234a336ddcd5a2359e1afa79f9651150061e0dc"
OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "ocsf"

# The classes -f ocsf emits (src/render/ocsf.rs): API Activity, Authentication, File System
# Activity.
CLASSES = ["events/application/api.json", "events/iam/authentication.json",
           "events/system/filesystem.json"]
# The objects it emits, at any depth (the test fails on an emitted object not kept here).
OBJECTS = ["actor", "user", "api", "response", "service", "network_endpoint", "http_request",
           "url", "resource_details", "metadata", "product", "session", "file", "device",
           "process"]

GIT_DIR = None


def show(path):
    out = subprocess.run(["git", "--git-dir", GIT_DIR, "show", f"refs/tags/{TAG}:{path}"],
                         check=True, capture_output=True).stdout
    return json.loads(out)


def deep_merge(base, over):
    """`over` on `base`: maps merge key by key, anything else (including null) replaces."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return copy.deepcopy(over)
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = deep_merge(out[key], value) if key in out else copy.deepcopy(value)
    return out


def own_attributes(doc):
    """A file's attributes with its `$include`s merged under them."""
    attrs = dict(doc.get("attributes", {}))
    includes = attrs.pop("$include", [])
    if isinstance(includes, str):
        includes = [includes]
    merged = {}
    for path in includes:
        inc = show(path)
        inc_attrs = own_attributes(inc)
        defaults = dict(inc.get("annotations", {}))
        if inc.get("meta") == "profile":
            defaults["profile"] = inc["name"]
        for name, attr in inc_attrs.items():
            merged[name] = deep_merge(merged.get(name, {}), deep_merge(defaults, attr))
    for name, attr in attrs.items():
        merged[name] = deep_merge(merged.get(name, {}), attr)
    return merged


def resolve(doc, find):
    """The attributes of a class or object after its `extends` chain, and the chain's
    category (classes) and constraints (the nearest)."""
    attrs = own_attributes(doc)
    category = doc.get("category")
    constraints = doc.get("constraints")
    parent = doc.get("extends")
    if parent:
        p_attrs, p_category, p_constraints = resolve(find(parent), find)
        attrs = {name: deep_merge(p_attrs.get(name, {}), a) for name, a in attrs.items()} | {
            name: a for name, a in p_attrs.items() if name not in attrs}
        category = category or p_category
        constraints = constraints if constraints is not None else p_constraints
    return attrs, category, constraints


def finish(attrs, dictionary):
    """Each attribute with its dictionary entry under it, reduced to what the test checks."""
    out = {}
    for name, attr in attrs.items():
        if name not in dictionary:
            sys.exit(f"{name} is not in the dictionary")
        full = deep_merge(dictionary[name], attr)
        entry = {
            "type": full["type"],
            "requirement": full.get("requirement") or "optional",
        }
        if full.get("is_array"):
            entry["is_array"] = True
        if full.get("enum"):
            entry["enum"] = {k: v.get("caption", "") for k, v in sorted(
                full["enum"].items(), key=lambda kv: int(kv[0]) if kv[0].lstrip("-").isdigit()
                else kv[0])}
        if full.get("sibling"):
            entry["sibling"] = full["sibling"]
        if full.get("profile"):
            entry["profile"] = full["profile"]
        out[name] = entry
    return dict(sorted(out.items()))


def main():
    global GIT_DIR
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    GIT_DIR = sys.argv[1]
    commit = subprocess.run(["git", "--git-dir", GIT_DIR, "rev-parse",
                             f"refs/tags/{TAG}^{{commit}}"], check=True, capture_output=True,
                            text=True).stdout.strip()
    if commit != COMMIT:
        sys.exit(f"tag {TAG} is {commit}, not {COMMIT}")
    if show("version.json")["version"] != TAG[1:]:
        sys.exit("version.json does not say " + TAG[1:])
    dictionary = show("dictionary.json")
    dict_attrs = dictionary["attributes"]
    types = {}
    for name, t in dictionary["types"]["attributes"].items():
        types[name] = t.get("type", name)
    categories = show("categories.json")["attributes"]

    events = {}

    def find_event(name):
        if name not in events:
            # The category classes are events/<category>/<category>.json.
            path = "events/base_event.json" if name == "base_event" else \
                f"events/{name}/{name}.json"
            events[name] = show(path)
        return events[name]

    classes = {}
    for path in CLASSES:
        doc = show(path)
        attrs, category, constraints = resolve(doc, find_event)
        cat = categories[category]
        class_uid = cat["uid"] * 1000 + doc["uid"]
        attrs = finish(attrs, dict_attrs)
        attrs["class_uid"]["enum"] = {str(class_uid): doc["caption"]}
        attrs["category_uid"]["enum"] = {str(cat["uid"]): cat["caption"]}
        attrs["type_uid"]["enum"] = {
            str(class_uid * 100 + int(k)): f"{doc['caption']}: {v}"
            for k, v in attrs["activity_id"]["enum"].items()}
        classes[str(class_uid)] = {
            "name": doc["name"],
            "caption": doc["caption"],
            "category": category,
            "category_uid": cat["uid"],
            "attributes": attrs,
            "constraints": constraints or {},
        }

    object_docs = {}

    def find_object(name):
        if name not in object_docs:
            object_docs[name] = show(f"objects/{name}.json")
        return object_docs[name]

    objects = {}
    for name in OBJECTS:
        attrs, _, constraints = resolve(find_object(name), find_object)
        objects[name] = {"attributes": finish(attrs, dict_attrs),
                         "constraints": constraints or {}}

    OUT.mkdir(parents=True, exist_ok=True)
    doc = {
        "ocsf": TAG[1:],
        "source": f"github:ocsf/ocsf-schema tag {TAG} commit {COMMIT}",
        "generator": "scripts/gen-ocsf-defs.py",
        "types": dict(sorted(types.items())),
        "classes": classes,
        "objects": objects,
    }
    (OUT / "ocsf-1.2.0.json").write_text(json.dumps(doc, indent=1) + "\n")


if __name__ == "__main__":
    main()
