#!/usr/bin/env python3
"""Generate src/api/schema.rs from the Proxmox VE API schema extract.

Usage (from the repository root):

    python3 scripts/gen-api.py [SCHEMA_JSON] > src/api/schema.rs

SCHEMA_JSON defaults to ../shared/data/pve-api-schema.json relative to the
repository root (resolved from this script's location, not the working
directory).

The output is deterministic and already in `rustfmt --edition 2024` layout, so
the committed file passes `cargo fmt --check`; the unit test
`api::tests::generated_schema_is_fresh` compares it with a fresh run.

Only what pverec needs is kept: per path template its `{var}` positions and
per HTTP method the handler name, whether a task UPID is returned, the task
types it may start and the parameter names with six flags (IN_PATH, SECRET,
SECRET_PARTS, BOOLEAN, LIST, REQUIRED). Descriptions, formats, enums, `pvesh` verbs etc. are dropped.
"""

import json
import os
import re
import sys

MAX_WIDTH = 100  # rustfmt max_width
SMALL_WIDTH = 60  # rustfmt fn_call_width / array_width (use_small_heuristics = Default)
INDENT = "    "

METHODS = ("GET", "POST", "PUT", "DELETE")
VAR_RE = re.compile(r"\{([^{}/]+)\}")


def fail(msg):
    sys.exit(f"gen-api.py: {msg}")


def default_schema_path():
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(
        os.path.join(here, "..", "..", "shared", "data", "pve-api-schema.json")
    )


def rust_str(s):
    """A Rust string literal for s (schema strings are plain ASCII)."""
    if not re.fullmatch(r"[\x20-\x7e]*", s):
        fail(f"unexpected non-printable/non-ASCII string {s!r}")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def segments(path):
    """Path template -> list of segments ("" for the root template "/")."""
    if not path.startswith("/"):
        fail(f"path template without leading '/': {path!r}")
    segs = [s for s in path.split("/")[1:] if s != ""]
    if "/".join(segs) != path[1:].rstrip("/") or (path != "/" and path.endswith("/")):
        fail(f"path template with empty segment: {path!r}")
    return segs


def var_name(seg):
    """'{node}' -> 'node'; a literal -> None. Partial variables are rejected."""
    m = VAR_RE.fullmatch(seg)
    if m:
        return m.group(1)
    if "{" in seg or "}" in seg:
        fail(f"variable that is only part of a segment is not supported: {seg!r}")
    return None


def by_len_bytes(s):
    """The order of the trie's literal children and of each endpoint's
    parameters: by length, then bytes (as `by_len_bytes` in src/api/mod.rs;
    most binary-search steps are then decided by the length alone)."""
    b = s.encode()
    return (len(b), b)


# Subclasses registered with `fragmentDelimiter => ''`: below them, the router joins the rest of
# the path into one segment for the next `{param}` (pve-common `src/PVE/RESTHandler.pm`
# `map_path_to_methods`). The storage content `{volume}` is such a parameter (pve-storage
# `src/PVE/API2/Storage/Status.pm` registers `{storage}/content` with it), and so is an IP set's
# `{cidr}` (pve-firewall `src/PVE/API2/Firewall/IPSet.pm` registers `{name}` with it), so
# `10.0.0.0/24` stays one value. These are all the uses in the PVE API repositories.
JOIN_REST = {
    "/nodes/{node}/storage/{storage}/content",
    "/cluster/firewall/ipset/{name}",
    "/nodes/{node}/qemu/{vmid}/firewall/ipset/{name}",
    "/nodes/{node}/lxc/{vmid}/firewall/ipset/{name}",
}

# Endpoints whose schema declares a null return but whose handler can return data (its last
# expression's value, which RESTHandler passes through unchecked): the length of an extjs answer
# then tells nothing. From a scan of every non-GET null handler: these end in a lock helper that
# returns `cfs_write_file`'s value, "" (pve-access-control `src/PVE/API2/TFA.pm`, pve-network
# `src/PVE/API2/Network/SDN/Fabrics/*.pm`).
RETURNS_DATA_DESPITE_NULL = {
    ("PUT", "/access/tfa/{userid}/{id}"),
    ("DELETE", "/access/tfa/{userid}/{id}"),
    ("POST", "/cluster/sdn/fabrics/fabric"),
    ("PUT", "/cluster/sdn/fabrics/fabric/{id}"),
    ("DELETE", "/cluster/sdn/fabrics/fabric/{id}"),
    ("POST", "/cluster/sdn/fabrics/node/{fabric_id}"),
    ("PUT", "/cluster/sdn/fabrics/node/{fabric_id}/{node_id}"),
    ("DELETE", "/cluster/sdn/fabrics/node/{fabric_id}/{node_id}"),
}


def returns_of(m):
    """What the endpoint answers: its outcome rules depend on it (see `Returns`)."""
    if (m["method"], m["path"]) in RETURNS_DATA_DESPITE_NULL:
        return "Returns::Unknown"
    if m["returns_upid"] == "yes":
        return "Returns::Upid"
    if m["returns_upid"] == "object.upid":
        return "Returns::UpidObject"
    if m.get("returns_type") == "null":
        return "Returns::Null"
    return "Returns::Data"


# Parameters the extract's heuristic does not flag but that are credentials on one endpoint:
# the OpenID authorization `code` and its `state` (pve-access-control `src/PVE/API2/OpenId.pm`
# `login`): whoever has both can finish the login. The names are too common to be secret
# everywhere, hence by path.
#
# Payloads that carry whatever the caller had to hide, into the guest or its monitor (qemu-server
# `PVE/API2/Qemu/Agent.pm` `file-write` `content`, `exec` `input-data`; `PVE/API2/Qemu.pm`
# `monitor` `command`, e.g. `set_password vnc …`): the heuristic cannot tell them by name.
PATH_SECRETS = {
    ("/access/openid/login", "POST"): {"code", "state"},
    ("/nodes/{node}/qemu/{vmid}/agent/file-write", "POST"): {"content"},
    ("/nodes/{node}/qemu/{vmid}/agent/exec", "POST"): {"input-data"},
    ("/nodes/{node}/qemu/{vmid}/monitor", "POST"): {"command"},
}

# Parameters secret in part (flag SECRET_PARTS, src/secret.rs `of_secret_parts`): the webhook
# notification target's `url` (its path and query are the credential of Slack, Discord, ntfy
# style hooks) and its `header` entries `name=…,value=…` (the value, base64, is an
# `Authorization` or API key header): pve-manager `PVE/API2/Cluster/Notifications.pm`, proxmox
# `proxmox-notify` `endpoints/webhook.rs`. The host and the header name stay readable.
PATH_SECRET_PARTS = {
    ("/cluster/notifications/endpoints/webhook", "POST"): {"url", "header"},
    ("/cluster/notifications/endpoints/webhook/{name}", "PUT"): {"url", "header"},
}


def param_flags(p, secret=False, secret_parts=False):
    flags = []
    if p.get("in_path"):
        flags.append("IN_PATH")
    if p.get("secret") or secret:
        flags.append("SECRET")
    elif secret_parts:
        flags.append("SECRET_PARTS")
    if p.get("type") == "boolean":
        flags.append("BOOLEAN")
    if p.get("type") == "array" or p.get("list_format"):
        flags.append("LIST")
    # The schema's own rule (pve-common `src/PVE/JSONSchema.pm` `validate`): a property without
    # `optional => 1` must be given. Path parameters always are, by the path.
    if not p.get("optional") and not p.get("in_path"):
        flags.append("REQUIRED")
    return " | ".join(flags) if flags else "0"


# --- rustfmt-compatible emission -------------------------------------------
#
# The tables are flat arrays of calls of small `const fn` constructors (see
# src/api/mod.rs). rustfmt (default configuration, style edition 2024) lays a
# call out on one line if its arguments take at most SMALL_WIDTH columns and
# the line fits MAX_WIDTH, else with one argument per line; a slice literal
# argument likewise goes on one line if its items take at most SMALL_WIDTH
# columns and the line fits, else one item per line. These are the only two
# rules the emitter relies on; `render_slice()` refuses lists whose items are
# all <= 10 columns wide, for which rustfmt could pick a packed layout.


class Slice:
    """A slice literal `&[item, ...]` of already rendered items."""

    def __init__(self, items):
        self.items = items

    def one_line(self):
        return "&[" + ", ".join(self.items) + "]"


def render_slice(sl, indent, prefix, suffix):
    """sl at the end of text prefix (already indented), followed by suffix."""
    one = sl.one_line()
    if len(one) - 3 <= SMALL_WIDTH and len(prefix) + len(one) + len(suffix) <= MAX_WIDTH:
        return [prefix + one + suffix]
    if all(len(it) <= 10 for it in sl.items):
        fail(f"slice {one} has only short items; its rustfmt layout is not emulated")
    lines = [prefix + "&["]
    lines += [indent + INDENT + it + "," for it in sl.items]
    lines.append(indent + "]" + suffix)
    return lines


def arg_text(a):
    return a.one_line() if isinstance(a, Slice) else a


def render_call(fname, args, indent, suffix):
    """`fname(args...)` at indent, followed by suffix; args are str or Slice."""
    inner = ", ".join(arg_text(a) for a in args)
    line = f"{indent}{fname}({inner}){suffix}"
    if len(inner) <= SMALL_WIDTH and len(line) <= MAX_WIDTH:
        return [line]
    lines = [f"{indent}{fname}("]
    arg_indent = indent + INDENT
    for a in args:
        if isinstance(a, Slice):
            lines += render_slice(a, arg_indent, arg_indent, ",")
        else:
            if len(arg_indent) + len(a) + 1 > MAX_WIDTH:
                fail(f"argument too long for one line: {a}")
            lines.append(f"{arg_indent}{a},")
    lines.append(f"{indent}){suffix}")
    return lines


def render_static(doc, name, ty, elems):
    """elems: list of (comment or None, fname, args)."""
    lines = [f"/// {d}" for d in doc]
    lines.append(f"pub(super) static {name}: [{ty}; {len(elems)}] = [")
    for comment, fname, args in elems:
        if comment is not None:
            lines.append(f"{INDENT}// {comment}")
        lines += render_call(fname, args, INDENT, ",")
    lines.append("];")
    return lines


# --- schema -> tables --------------------------------------------------------


def main():
    if len(sys.argv) > 2:
        fail("usage: python3 scripts/gen-api.py [SCHEMA_JSON] > src/api/schema.rs")
    schema_path = sys.argv[1] if len(sys.argv) == 2 else default_schema_path()
    try:
        with open(schema_path, encoding="utf-8") as f:
            schema = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read schema {schema_path}: {e}")

    source = schema.get("source", {})
    # template path -> method -> endpoint dict
    templates = {}

    def add(path, entry):
        method = entry["method"]
        if method not in METHODS:
            fail(f"unexpected method {method!r} for {path}")
        eps = templates.setdefault(path, {})
        if method in eps:
            fail(f"duplicate endpoint {method} {path}")
        eps[method] = entry

    for key, names in [*PATH_SECRETS.items(), *PATH_SECRET_PARTS.items()]:
        found = {
            p["name"]
            for m in schema["methods"]
            if (m["path"], m["method"]) == key
            for p in m["params"]
        }
        if not names <= found:
            fail(f"PATH_SECRETS: {sorted(names - found)} not parameters of {key[1]} {key[0]}")
    for m in schema["methods"]:
        params = {}
        path_secrets = PATH_SECRETS.get((m["path"], m["method"]), set())
        path_secret_parts = PATH_SECRET_PARTS.get((m["path"], m["method"]), set())
        for p in m["params"]:
            if p["name"] in params:
                fail(f"duplicate parameter {p['name']} in {m['method']} {m['path']}")
            params[p["name"]] = param_flags(
                p, p["name"] in path_secrets, p["name"] in path_secret_parts
            )
        path_vars = [var_name(s) for s in segments(m["path"])]
        in_path = sorted(n for n, fl in params.items() if "IN_PATH" in fl)
        if in_path != sorted(v for v in path_vars if v is not None):
            fail(f"in_path parameters {in_path} do not match template {m['path']}")
        add(
            m["path"],
            {
                "method": m["method"],
                "action": m["name"],
                "returns": returns_of(m),
                "task_types": sorted(set(m.get("task_types", []))),
                # pveproxy proxies the call to the path's node (pve-http-server
                # `AnyEvent.pm` proxy_request); without it, the node that was asked runs it.
                "proxyto": m.get("proxyto") == "node",
                "params": sorted(params.items(), key=lambda kv: by_len_bytes(kv[0])),
            },
        )
    for s in schema.get("supplemental", []):
        # Newer endpoints without parameters or handler name; whether they
        # return a UPID is not recorded, so it is taken as "no".
        add(
            s["path"],
            {
                "method": s["method"],
                "action": None,
                "returns": "Returns::Unknown",
                "task_types": sorted(set(s.get("task_types", []))),
                "proxyto": False,
                "params": [],
            },
        )

    # Templates, sorted by path bytes; index = position.
    paths = sorted(templates, key=lambda p: p.encode())
    tmpl_index = {p: i for i, p in enumerate(paths)}

    # Path trie. Node: {"lits": {seg: node}, "var": node|None, "template": idx|None};
    # variables of any name share the one "var" child of a node.
    def new_node(label):
        return {"label": label, "lits": {}, "var": None, "template": None}

    root = new_node("/")
    for p in paths:
        node = root
        prefix = ""
        for seg in segments(p):
            v = var_name(seg)
            if v is None:
                prefix += "/" + seg
                node = node["lits"].setdefault(seg, new_node(prefix))
            else:
                prefix += "/{" + v + "}"
                if node["var"] is None:
                    node["var"] = new_node(prefix)
                node = node["var"]
        if node["template"] is not None:
            # e.g. /a/{x} and /a/{y}: the same path under different names
            fail(f"templates {paths[node['template']]} and {p} match the same paths")
        node["template"] = tmpl_index[p]

    # Number nodes in depth-first pre-order (root = 0; literals before the variable).
    order = []

    def number(node):
        node["index"] = len(order)
        order.append(node)
        for seg in sorted(node["lits"], key=lambda s: s.encode()):
            number(node["lits"][seg])
        if node["var"] is not None:
            number(node["var"])

    number(root)
    if len(order) >= 0xFFFF or len(paths) >= 0xFFFF:
        fail("too many nodes/templates for u16 indices")

    def opt(x):
        return "None" if x is None else f"Some({x})"

    def lit_children(node):
        return sorted(node["lits"], key=by_len_bytes)

    node_elems = [
        (
            f"{node['index']}: {node['label']}",
            "n",
            [
                opt(node["template"]),
                opt(None if node["var"] is None else node["var"]["index"]),
                Slice(
                    [
                        f"({rust_str(seg)}, {node['lits'][seg]['index']})"
                        for seg in lit_children(node)
                    ]
                ),
            ],
        )
        for node in order
    ]

    join_rest = []
    for prefix in sorted(JOIN_REST):
        node = root
        for seg in segments(prefix):
            v = var_name(seg)
            node = node["var"] if v is not None else node["lits"].get(seg)
            if node is None:
                fail(f"JOIN_REST prefix {prefix} is not in the schema")
        join_rest.append(node["index"])

    tmpl_elems, ep_elems, param_elems = [], [], []
    for i, p in enumerate(paths):
        segs = segments(p)
        if len(segs) > 255:
            fail(f"template too deep: {p}")
        vars_ = [
            f"({pos}, {rust_str(v)})"
            for pos, v in enumerate(var_name(s) for s in segs)
            if v is not None
        ]
        eps = templates[p]
        tmpl_elems.append(
            (f"{i}", "t", [rust_str(p), Slice(vars_), str(len(ep_elems)), str(len(eps))])
        )
        for k, method in enumerate(sorted(eps)):
            ep = eps[method]
            params = ep["params"]
            if len(params) > 255:
                fail(f"too many parameters in {method} {p}")
            ep_elems.append(
                (
                    f"{i}: {p}" if k == 0 else None,
                    "e",
                    [
                        rust_str(method),
                        "None" if ep["action"] is None else f"Some({rust_str(ep['action'])})",
                        ep["returns"],
                        Slice([rust_str(tt) for tt in ep["task_types"]]),
                        "true" if ep["proxyto"] else "false",
                        str(len(param_elems)),
                        str(len(params)),
                    ],
                )
            )
            for j, (name, flags) in enumerate(params):
                param_elems.append(
                    (
                        f"{len(param_elems)}: {method} {p}" if j == 0 else None,
                        "p",
                        [rust_str(name), flags],
                    )
                )
    if len(order) >= 0xFFFF or len(paths) >= 0xFFFF or len(ep_elems) >= 0xFFFF:
        fail("too many nodes/templates/endpoints for u16 indices")
    if len(param_elems) >= 0xFFFF:
        fail("too many parameters for u16 indices")

    out = [
        "//! Proxmox VE API schema tables for [`super`]: path trie, templates, endpoints,",
        "//! parameters.",
        "//!",
        "//! GENERATED FILE, DO NOT EDIT BY HAND. Generated by `scripts/gen-api.py` from",
        "//! `pve-api-schema.json`, extracted from {} `{}`".format(
            source.get("repo", "?"), source.get("path", "?")
        ),
        "//! at commit {} (pve-docs {}).".format(
            source.get("commit", "?"), source.get("pve_docs_version", "?")
        ),
        "//! Regenerate with `python3 scripts/gen-api.py > src/api/schema.rs`.",
        "//!",
        f"//! {len(paths)} path templates, {len(ep_elems)} endpoints, {len(param_elems)} parameters.",
        "",
        "use super::{",
        "    BOOLEAN, Endpoint, IN_PATH, LIST, Node, Param, REQUIRED, Returns, SECRET, SECRET_PARTS,",
        "    Template, e, n, p, t,",
        "};",
        "",
    ]
    out += render_static(
        [
            "Path trie, root first: `n(template, variable child, literal children)` with the",
            "literal children sorted by length, then bytes.",
        ],
        "NODES",
        "Node",
        node_elems,
    )
    out.append("")
    out += [
        "/// Trie nodes below which the rest of the path is one segment (`fragmentDelimiter => ''`).",
        f"pub(super) static JOIN_REST: [u16; {len(join_rest)}] = [{', '.join(map(str, join_rest))}];",
    ]
    out.append("")
    out += render_static(
        [
            "Path templates sorted by bytes: `t(path, [(segment index, variable name)],",
            "first endpoint, number of endpoints)`.",
        ],
        "TEMPLATES",
        "Template",
        tmpl_elems,
    )
    out.append("")
    out += render_static(
        [
            "Endpoints by template and method: `e(method, action, what it returns, task types,",
            "first parameter, number of parameters)`.",
        ],
        "ENDPOINTS",
        "Endpoint",
        ep_elems,
    )
    out.append("")
    out += render_static(
        [
            "Parameters by endpoint, each endpoint's sorted by name length, then bytes:",
            "`p(name, flags)`.",
        ],
        "PARAMS",
        "Param",
        param_elems,
    )
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
