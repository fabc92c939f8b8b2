# Replace each ${LLMSIGHT_NAME:-default} (or ${LLMSIGHT_NAME}) with the environment variable's
# value, or the default when it is unset or empty. Anything else with a "$" (the ClickHouse
# plugin's $__timeFilter, Grafana's {{ $labels.x }}) is left alone. POSIX/busybox awk.
{
    line = $0
    out = ""
    while (match(line, /\$\{LLMSIGHT_[A-Z0-9_]+(:-[^}]*)?\}/)) {
        token = substr(line, RSTART + 2, RLENGTH - 3)
        sep = index(token, ":-")
        if (sep > 0) {
            name = substr(token, 1, sep - 1)
            def = substr(token, sep + 2)
        } else {
            name = token
            def = ""
        }
        val = ((name in ENVIRON) && ENVIRON[name] != "") ? ENVIRON[name] : def
        out = out substr(line, 1, RSTART - 1) val
        line = substr(line, RSTART + RLENGTH)
    }
    print out line
}
