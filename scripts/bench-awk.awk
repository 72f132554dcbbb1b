# bench-awk.awk: the baseline pverec has to beat, a plain awk access.log -> pvesh converter.
#
# Why: design.md asks pverec to stay within 3x of `wc -l`; this script shows what
# the obvious shell one-liner costs for the same job on the same file (scripts/bench.py).
# It is realistic but not exact: POST/PUT/DELETE under /api2/<fmt>/ that are not
# logins or console plumbing become `pvesh create|set|delete PATH --k 'v'...`, with
# the path and query values percent-decoded and single-quoted. No secrets handling,
# no schema, no tasks.
#
# Usage: awk -f scripts/bench-awk.awk /var/log/pveproxy/access.log

BEGIN {
    verb["\"POST"] = "create"; verb["\"PUT"] = "set"; verb["\"DELETE"] = "delete"
    for (i = 1; i < 256; i++) {
        h = sprintf("%02X", i)
        byte[h] = sprintf("%c", i)
        byte[tolower(h)] = byte[h]
    }
}

function decode(s,    out, i) {
    if (index(s, "%") == 0) return s
    out = ""
    while ((i = index(s, "%")) > 0) {
        if (substr(s, i + 1, 2) in byte) {
            out = out substr(s, 1, i - 1) byte[substr(s, i + 1, 2)]
            s = substr(s, i + 3)
        } else {
            out = out substr(s, 1, i)
            s = substr(s, i + 1)
        }
    }
    return out s
}

function quote(s) {
    gsub(/'/, "'\\''", s)
    return "'" s "'"
}

# $6 is "METHOD, $7 the request target
# (auth and console requests are not writes: same classes as pverec's default --class write)
($6 in verb) && $7 ~ /^\/api2\/[a-z][a-z0-9]+\// \
        && $7 !~ /\/access\/(ticket|vncticket|openid)/ \
        && $7 !~ /\/(vncproxy|termproxy|spiceproxy|vncwebsocket|mtunnel|vncshell|spiceshell)/ {
    uri = $7
    query = ""
    if ((q = index(uri, "?")) > 0) {
        query = substr(uri, q + 1)
        uri = substr(uri, 1, q - 1)
    }
    sub(/^\/api2\/[a-z][a-z0-9]+/, "", uri)
    line = "pvesh " verb[$6] " " decode(uri)
    n = split(query, kv, "&")
    for (j = 1; j <= n; j++) {
        if (kv[j] == "") continue
        e = index(kv[j], "=")
        if (e > 0) { k = substr(kv[j], 1, e - 1); v = substr(kv[j], e + 1) }
        else { k = kv[j]; v = "" }
        if (k == "_dc") continue
        gsub(/\+/, " ", v)
        line = line " --" decode(k) " " quote(decode(v))
    }
    print line
}
