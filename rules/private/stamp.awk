# Replaces each {KEY} in the last file with KEY's value in the files before
# it: Bazel's status files (stable-status.txt, volatile-status.txt), one
# "KEY value" per line, as --workspace_status_command prints them.
FILENAME != ARGV[ARGC - 1] {
    if (NF > 0) {
        value[$1] = substr($0, length($1) + 2)
    }
    next
}
{
    line = $0
    done = ""
    # Left to right, so that a value is never searched for placeholders.
    while (match(line, /\{[A-Za-z0-9_]+\}/)) {
        key = substr(line, RSTART + 1, RLENGTH - 2)
        if (key in value) {
            done = done substr(line, 1, RSTART - 1) value[key]
        } else {
            done = done substr(line, 1, RSTART + RLENGTH - 1)
        }
        line = substr(line, RSTART + RLENGTH)
    }
    print done line
}
