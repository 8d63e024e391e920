#!/bin/sh
# A stand-in for fetchmail in unit tests: every run is one poll (`-d 0`), as dynmx runs it.
# Behaviour comes from files in $FETCHMAILHOME:
#   codes : one result per line; each poll pops the first (none left: 1, no mail):
#           0 / 1 / 3 / any number: exit with it (0 prints "2 messages", 1 "No mail", 3
#           an authorization failure, as fetchmail 6.4 does without -v);
#           "refused": fetches 2 messages that the local MTA refuses (451) and exits 0,
#           as the real fetchmail 6.4 does;
#           "segv": dies of SIGSEGV (a crash);
#           "hang": stays until signalled (a slow poll).
# Every run appends its argv to $FETCHMAILHOME/calls.
home=${FETCHMAILHOME:?}
echo "$*" >> "$home/calls"
code=$(head -n 1 "$home/codes" 2>/dev/null)
[ -n "$code" ] || code=1
tail -n +2 "$home/codes" > "$home/codes.new" 2>/dev/null
mv "$home/codes.new" "$home/codes" 2>/dev/null
case "$code" in
  refused)
    echo "2 messages for office at 127.0.0.1 (900 octets)."
    echo "fetchmail: SMTP error: 451 4.3.0 <alice@example.com>: try later" >&2
    echo "reading message office@127.0.0.1:1 of 2 (450 octets) not flushed"
    echo "fetchmail: SMTP error: 451 4.3.0 <bob@example.com>: try later" >&2
    echo "reading message office@127.0.0.1:2 of 2 (450 octets) not flushed"
    exit 0
    ;;
  segv) kill -SEGV $$ ;;
  hang)
    trap 'echo "fetchmail: terminated by signal"; exit 2' TERM
    while :; do sleep 1 & wait $!; done
    ;;
esac
if [ "$code" = 0 ]; then echo "2 messages for office at 127.0.0.1 (900 octets)."; fi
if [ "$code" = 1 ]; then echo "fetchmail: No mail for office at 127.0.0.1"; fi
if [ "$code" = 3 ]; then echo "fetchmail: Authorization failure on office@127.0.0.1" >&2; fi
exit "$code"
