# The values of --class, a comma-separated list: after write, each value is offered as write,VALUE.
function __fish_pverec_values_class
    set -l prefix (string match -r -- '^.*,' (commandline -ct)); or set prefix ''
    printf '%s\t%s\n' $prefix'write' 'POST, PUT, DELETE under /api2/ (not auth or console)' $prefix'read' 'GET under /api2/ (not auth or console): the web UI\'s polling' $prefix'auth' 'logins and tickets: /access/ticket, /access/vncticket, /access/openid/*' $prefix'console' 'console plumbing: vncproxy, termproxy, spiceproxy, websockets, mtunnel, spiceproxy CONNECT' $prefix'other' 'everything not under /api2/: static files, /, unparsable request lines' $prefix'task' 'a task that no logged request started (CLI, scheduler, HA, another node); JSON and script' $prefix'change' 'a change in /etc/pve that no request explains (qm set on another node, HA, an edit by hand); follow with /etc/pve'
end

# The values of --outcome, a comma-separated list: after success, each value is offered as success,VALUE.
function __fish_pverec_values_outcome
    set -l prefix (string match -r -- '^.*,' (commandline -ct)); or set prefix ''
    printf '%s\t%s\n' $prefix'success' 'requests (and tasks) that succeeded' $prefix'failure' 'requests (and tasks) that failed' $prefix'unknown' 'requests whose outcome the sources cannot tell' $prefix'pending' 'requests whose task still runs' $prefix'not_executed' 'requests that never ran (redirected to HTTPS)' $prefix'any' 'every outcome'
end

# The values of --format.
function __fish_pverec_values_format
    set -l prefix ''
    printf '%s\t%s\n' $prefix'pvesh' 'one pvesh command per request, with a trailing "# note" where something is missing and a "# time user from client" line where the user or client changes' $prefix'json' 'one JSON audit record per line (JSON Lines)' $prefix'json-pretty' 'the JSON records pretty-printed, one after the other (as pvesh\'s json-pretty; jq reads them)' $prefix'script' 'a bash script: a header with counts and secret variables, a commented header per command, commands that failed or lack a required parameter commented out' $prefix'ecs' 'one Elastic Common Schema (ECS 9.4) document per line: event.*, user.*, source.ip, host.name, http.*, url.path (no query), process.*, related.*, the record under proxmox.*' $prefix'ocsf' 'one Open Cybersecurity Schema Framework (OCSF 1.2.0) event per line: API Activity for requests and tasks, Authentication for logins and sessions, File System Activity for changes in /etc/pve; the record under unmapped.proxmox'
end

# The values of --status, a comma-separated list: after ongoing, each value is offered as ongoing,VALUE.
function __fish_pverec_values_status
    set -l prefix (string match -r -- '^.*,' (commandline -ct)); or set prefix ''
    printf '%s\t%s\n' $prefix'ongoing' 'still open at the end of what was read' $prefix'completed' 'closed: its task ended, its ticket expired, it was logged out or went idle' $prefix'unknown' 'no close can be known (a QEMU SPICE console has no task; no task index was read)'
end

# The values of --kind, a comma-separated list: after vnc, each value is offered as vnc,VALUE.
function __fish_pverec_values_kind
    set -l prefix (string match -r -- '^.*,' (commandline -ct)); or set prefix ''
    printf '%s\t%s\n' $prefix'vnc' 'noVNC console of a VM or container (`vncproxy`)' $prefix'term' 'xterm.js console of a VM or container (`termproxy`)' $prefix'spice' 'SPICE console of a VM or container (`spiceproxy`)' $prefix'shell' 'a node\'s shell (`vncshell`, `termproxy` or `spiceshell` on the node)' $prefix'ui' 'a web UI login and what was done with its ticket from that client' $prefix'api' 'an API token\'s calls from one client'
end

# The values of --format.
function __fish_pverec_values_format_2
    set -l prefix ''
    printf '%s\t%s\n' $prefix'table' 'an aligned table for a person' $prefix'json' 'one JSON object per session (JSON Lines)' $prefix'csv' 'comma-separated values with a header row, for spreadsheets' $prefix'ecs' 'one Elastic Common Schema (ECS 9.4) document per session, the record under proxmox.*' $prefix'ocsf' 'one OCSF 1.2 Authentication event per session (Logon, Logoff with its session), the record under unmapped.proxmox'
end

# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_pverec_global_optspecs
    string join \n h/help V/version
end

function __fish_pverec_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_pverec_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_pverec_using_subcommand
    set -l cmd (__fish_pverec_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c pverec -n "__fish_pverec_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pverec -n "__fish_pverec_needs_command" -s V -l version -d 'Print version'
complete -c pverec -n "__fish_pverec_needs_command" -f -a "convert" -d 'Convert access.log files into pvesh commands, JSON Lines or a bash script'
complete -c pverec -n "__fish_pverec_needs_command" -f -a "follow" -d 'Print requests live as pveproxy logs them, across log rotation, until a signal stops it'
complete -c pverec -n "__fish_pverec_needs_command" -f -a "sessions" -d 'List sessions: consoles (noVNC, xterm.js, SPICE, node shells), web UI logins and API token use, each with who, from where, on what, when, for how long and how it ended'
complete -c pverec -n "__fish_pverec_needs_command" -f -a "completions" -d 'Print a completion script for SHELL on standard output'
complete -c pverec -n "__fish_pverec_needs_command" -f -a "man" -d 'Print the man page (roff) on standard output: pverec man | man -l -'
complete -c pverec -n "__fish_pverec_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l events -d 'Take request bodies from FILE, a saved recorder spool events file (JSON lines)' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l tasks -d 'The task directory (index, index.1, active) [default: /var/log/pve/tasks, when the node\'s own log, in /var/log/pveproxy, is read]' -r -f -a "(__fish_complete_directories)"
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l journal-file -d 'Read FILE instead of the node\'s journal (repeatable): a copied .journal file (through journalctl --file), a journalctl -o json export, or syslog text (/var/log/syslog, daemon.log, rotated and gzip\'d too), told apart by content. follow takes one .journal file and follows it as it grows' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l etc-pve -d 'Name guests from DIR, PVE\'s cluster file system [default: /etc/pve, when the node\'s own log is read and it exists]' -r -f -a "(__fish_complete_directories)"
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l host -d 'Also read NODE over ssh (repeatable, or a comma-separated list): a node name (as ssh resolves it), NAME=ADDRESS, user@ADDRESS or NAME=user@ADDRESS' -r -f -a "(__fish_print_hostnames)"
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l ssh-config -d 'ssh\'s configuration file (ssh -F FILE) [default: ssh\'s own, ~/.ssh/config and /etc/ssh/ssh_config]' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l ssh-option -d 'One more ssh option, as for ssh -o (repeatable), e.g. StrictHostKeyChecking=accept-new or Port=2222' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l remote-pverec -d 'The program that is pverec on the other nodes [default: pverec, found through the node\'s PATH]. Where it is there (and speaks this pverec\'s protocol), convert and sessions let it send the nodes\' logs, decompressed, with only the lines of the classes asked for (a few percent of them for writes); else, and always with --no-remote-pverec, standard tools send the files as they are' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l ssh-timeout -d 'How long a node may send nothing (connecting, or in the middle of its files) before it is given up, named on stderr, and the run goes on without it' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l on-node -d 'In a cluster read (--host, --cluster), only events on NODE: logged there, or done there (a request proxied to it, its task). A comma-separated list, repeatable. Not --node, which names the node of a single log' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -s u -l user -d 'Only requests by USER (repeatable, or a comma-separated list)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l class -d 'Classes of requests to show (comma-separated) [default: write]' -r -f -a "(__fish_pverec_values_class)"
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l since -d 'Only requests logged at or after TIME' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l until -d 'Only requests logged before TIME (same forms as --since)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l outcome -d 'Only requests that ended so (repeatable, or a comma-separated list) [default: any]' -r -f -a "(__fish_pverec_values_outcome)"
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l vmid -d 'Only requests about guest ID (repeatable, or a comma-separated list)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l path -d 'Only requests whose API path, or its schema template, matches PATTERN (repeatable)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -s f -s o -l format -l output-format -d 'Output format (-o/--output-format as pvesh spells it)' -r -f -a "(__fish_pverec_values_format)"
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l node -d 'Node name recorded in events [default: this host\'s name when reading the node\'s own log]' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l to -d 'Where records go: stdout, journal, journal:/SOCKET, syslog+udp://HOST:PORT or syslog+tcp://HOST:PORT' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l sink-buffer -d 'follow: how many records wait for a journal or collector that is away; beyond that the oldest are dropped, and how many and from when is said' -r
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l rotated -d 'Read each FILE\'s rotated set, oldest first: FILE.7.gz … FILE.2.gz FILE.1 FILE'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l no-tasks -d 'Do not read the task directory'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l journal -d 'Read the node\'s journal (through journalctl) [default: on when the node\'s own log, in /var/log/pveproxy, is read and journalctl is installed]'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l no-journal -d 'Do not read the journal'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l no-etc-pve -d 'Do not read /etc/pve'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l cluster -d 'Read every node of the cluster: those of /etc/pve/.members (or --etc-pve DIR), this one locally, the others over ssh at their cluster address'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l no-remote-pverec -d 'Never run pverec on the other nodes'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -s a -l all -d 'Show every class (same as --class write,read,auth,console,other,task)'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l show-secrets -d 'Print secret parameter values (passwords, tickets, keys) instead of redacting them'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -l no-comments -d 'pvesh format only: print only commands, without "# …" notes and comment lines'
complete -c pverec -n "__fish_pverec_using_subcommand convert" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l access-log -d 'The log to follow (a symlink is followed to its current target)' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand follow" -s n -l lines -d 'First show the last N selected events of the log (and of FILE.1), then go on live' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l state -d 'Record progress in FILE and resume from it when FILE exists' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l rotate-wait -d 'How long a rotated log is still read after it last grew, e.g. 30s, 5m, 1h' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l spool -d 'The request recorder\'s spool directory [default: /run/pve-api-record, when it exists and the node\'s own log is followed]' -r -f -a "(__fish_complete_directories)"
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l tasks -d 'The task directory (index, index.1, active) [default: /var/log/pve/tasks, when the node\'s own log, in /var/log/pveproxy, is read]' -r -f -a "(__fish_complete_directories)"
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l journal-file -d 'Read FILE instead of the node\'s journal (repeatable): a copied .journal file (through journalctl --file), a journalctl -o json export, or syslog text (/var/log/syslog, daemon.log, rotated and gzip\'d too), told apart by content. follow takes one .journal file and follows it as it grows' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l etc-pve -d 'Name guests from DIR, PVE\'s cluster file system [default: /etc/pve, when the node\'s own log is read and it exists]' -r -f -a "(__fish_complete_directories)"
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l host -d 'Also read NODE over ssh (repeatable, or a comma-separated list): a node name (as ssh resolves it), NAME=ADDRESS, user@ADDRESS or NAME=user@ADDRESS' -r -f -a "(__fish_print_hostnames)"
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l ssh-config -d 'ssh\'s configuration file (ssh -F FILE) [default: ssh\'s own, ~/.ssh/config and /etc/ssh/ssh_config]' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l ssh-option -d 'One more ssh option, as for ssh -o (repeatable), e.g. StrictHostKeyChecking=accept-new or Port=2222' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l remote-pverec -d 'The program that is pverec on the other nodes [default: pverec, found through the node\'s PATH]. Where it is there (and speaks this pverec\'s protocol), convert and sessions let it send the nodes\' logs, decompressed, with only the lines of the classes asked for (a few percent of them for writes); else, and always with --no-remote-pverec, standard tools send the files as they are' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l ssh-timeout -d 'How long a node may send nothing (connecting, or in the middle of its files) before it is given up, named on stderr, and the run goes on without it' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l on-node -d 'In a cluster read (--host, --cluster), only events on NODE: logged there, or done there (a request proxied to it, its task). A comma-separated list, repeatable. Not --node, which names the node of a single log' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -s u -l user -d 'Only requests by USER (repeatable, or a comma-separated list)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l class -d 'Classes of requests to show (comma-separated) [default: write]' -r -f -a "(__fish_pverec_values_class)"
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l since -d 'Only requests logged at or after TIME' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l until -d 'Only requests logged before TIME (same forms as --since)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l outcome -d 'Only requests that ended so (repeatable, or a comma-separated list) [default: any]' -r -f -a "(__fish_pverec_values_outcome)"
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l vmid -d 'Only requests about guest ID (repeatable, or a comma-separated list)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l path -d 'Only requests whose API path, or its schema template, matches PATTERN (repeatable)' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -s f -s o -l format -l output-format -d 'Output format (-o/--output-format as pvesh spells it)' -r -f -a "(__fish_pverec_values_format)"
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l node -d 'Node name recorded in events [default: this host\'s name when reading the node\'s own log]' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l to -d 'Where records go: stdout, journal, journal:/SOCKET, syslog+udp://HOST:PORT or syslog+tcp://HOST:PORT' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l sink-buffer -d 'follow: how many records wait for a journal or collector that is away; beyond that the oldest are dropped, and how many and from when is said' -r
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l poll -d 'Check the log every 0.2 s instead of waiting for inotify events (for NFS and the like)'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l no-spool -d 'Do not register with the request recorder'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l no-tasks -d 'Do not read the task directory'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l journal -d 'Read the node\'s journal (through journalctl) [default: on when the node\'s own log, in /var/log/pveproxy, is read and journalctl is installed]'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l no-journal -d 'Do not read the journal'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l no-etc-pve -d 'Do not read /etc/pve'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l cluster -d 'Read every node of the cluster: those of /etc/pve/.members (or --etc-pve DIR), this one locally, the others over ssh at their cluster address'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l no-remote-pverec -d 'Never run pverec on the other nodes'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -s a -l all -d 'Show every class (same as --class write,read,auth,console,other,task)'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l show-secrets -d 'Print secret parameter values (passwords, tickets, keys) instead of redacting them'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -l no-comments -d 'pvesh format only: print only commands, without "# …" notes and comment lines'
complete -c pverec -n "__fish_pverec_using_subcommand follow" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l state -d 'With --follow: record how far the log was read and the sessions still open in FILE (0600), and resume from there' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l tasks -d 'The task directory (index, index.1, active) [default: /var/log/pve/tasks, when the node\'s own log, in /var/log/pveproxy, is read]' -r -f -a "(__fish_complete_directories)"
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l journal-file -d 'Read FILE instead of the node\'s journal (repeatable): a copied .journal file (through journalctl --file), a journalctl -o json export, or syslog text (/var/log/syslog, daemon.log, rotated and gzip\'d too), told apart by content. follow takes one .journal file and follows it as it grows' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l etc-pve -d 'Name guests from DIR, PVE\'s cluster file system [default: /etc/pve, when the node\'s own log is read and it exists]' -r -f -a "(__fish_complete_directories)"
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l host -d 'Also read NODE over ssh (repeatable, or a comma-separated list): a node name (as ssh resolves it), NAME=ADDRESS, user@ADDRESS or NAME=user@ADDRESS' -r -f -a "(__fish_print_hostnames)"
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l ssh-config -d 'ssh\'s configuration file (ssh -F FILE) [default: ssh\'s own, ~/.ssh/config and /etc/ssh/ssh_config]' -r -F
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l ssh-option -d 'One more ssh option, as for ssh -o (repeatable), e.g. StrictHostKeyChecking=accept-new or Port=2222' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l remote-pverec -d 'The program that is pverec on the other nodes [default: pverec, found through the node\'s PATH]. Where it is there (and speaks this pverec\'s protocol), convert and sessions let it send the nodes\' logs, decompressed, with only the lines of the classes asked for (a few percent of them for writes); else, and always with --no-remote-pverec, standard tools send the files as they are' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l ssh-timeout -d 'How long a node may send nothing (connecting, or in the middle of its files) before it is given up, named on stderr, and the run goes on without it' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l status -d 'Only sessions in this state: ongoing, completed, or unknown (no close can be known: a QEMU SPICE console has no task, or no task index was read); a comma-separated list' -r -f -a "(__fish_pverec_values_status)"
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l kind -d 'Only sessions of these kinds: vnc, term, spice, shell, ui, api; a comma-separated list' -r -f -a "(__fish_pverec_values_kind)"
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -s u -l user -d 'Only sessions of USER: alice@pve also selects her API tokens, alice@pve!ci only that token, alice alice in every realm; a comma-separated list, repeatable' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l client -d 'Only sessions from this client address (::ffff:192.0.2.10 and 192.0.2.10 are the same); a comma-separated list' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l vmid -d 'Only consoles of these guests (VM or container ids); a comma-separated list' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l since -d 'Only sessions opened at or after TIME (same forms as convert: 2026-06-24, \'2026-06-24 14:00\', -2h, 7d, today, yesterday); with --follow, the log\'s history is read from there' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l until -d 'Only sessions opened before TIME' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l node -d 'Only sessions on NODE: a console\'s guest or shell node; for UI and API sessions the node that wrote the log (this host, when its own log is read). A comma-separated list' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l log-node -d 'The node that wrote the log, for UI and API sessions (convert\'s --node) [default: this host\'s name when reading the node\'s own log]' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -s f -s o -l format -d 'Output format: an aligned table (local times), JSON Lines, or CSV with a header row. With --follow, table is one line per opening and closing' -r -f -a "(__fish_pverec_values_format_2)"
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l to -d 'Where records go: stdout, journal, journal:/SOCKET, syslog+udp://HOST:PORT or syslog+tcp://HOST:PORT' -r -f
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l sink-buffer -d 'follow: how many records wait for a journal or collector that is away; beyond that the oldest are dropped, and how many and from when is said' -r
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l rotated -d 'Read each FILE\'s rotated set, oldest first (FILE.7.gz … FILE.1 FILE), as convert does'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l follow -d 'Follow the log live: print each session when it opens and when it closes, until a signal stops it'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l poll -d 'With --follow: look for changes every second instead of using inotify'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l no-tasks -d 'Do not read the task directory'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l journal -d 'Read the node\'s journal (through journalctl) [default: on when the node\'s own log, in /var/log/pveproxy, is read and journalctl is installed]'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l no-journal -d 'Do not read the journal'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l no-etc-pve -d 'Do not read /etc/pve'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l cluster -d 'Read every node of the cluster: those of /etc/pve/.members (or --etc-pve DIR), this one locally, the others over ssh at their cluster address'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -l no-remote-pverec -d 'Never run pverec on the other nodes'
complete -c pverec -n "__fish_pverec_using_subcommand sessions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pverec -n "__fish_pverec_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c pverec -n "__fish_pverec_using_subcommand man" -s h -l help -d 'Print help'
complete -c pverec -n "__fish_pverec_using_subcommand help; and not __fish_seen_subcommand_from convert follow sessions completions man help" -f -a "convert" -d 'Convert access.log files into pvesh commands, JSON Lines or a bash script'
complete -c pverec -n "__fish_pverec_using_subcommand help; and not __fish_seen_subcommand_from convert follow sessions completions man help" -f -a "follow" -d 'Print requests live as pveproxy logs them, across log rotation, until a signal stops it'
complete -c pverec -n "__fish_pverec_using_subcommand help; and not __fish_seen_subcommand_from convert follow sessions completions man help" -f -a "sessions" -d 'List sessions: consoles (noVNC, xterm.js, SPICE, node shells), web UI logins and API token use, each with who, from where, on what, when, for how long and how it ended'
complete -c pverec -n "__fish_pverec_using_subcommand help; and not __fish_seen_subcommand_from convert follow sessions completions man help" -f -a "completions" -d 'Print a completion script for SHELL on standard output'
complete -c pverec -n "__fish_pverec_using_subcommand help; and not __fish_seen_subcommand_from convert follow sessions completions man help" -f -a "man" -d 'Print the man page (roff) on standard output: pverec man | man -l -'
complete -c pverec -n "__fish_pverec_using_subcommand help; and not __fish_seen_subcommand_from convert follow sessions completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
