#!/bin/sh
# A stand-in for fetchmail in unit tests. Behaviour comes from files in $FETCHMAILHOME:
#   daemon-exit   : if present, a daemon-mode run exits at once with this code (a crash)
#   oneshot-codes : one exit code per line; each one-shot run (-d 0) pops the first;
#                   "refused" fetches 2 messages that the local MTA refuses (451) and exits 0,
#                   as the real fetchmail 6.4 does
#   daemon-refuse : if present, each daemon-mode poll fetches 2 messages the MTA refuses
# Every run appends its argv to $FETCHMAILHOME/calls.
home=${FETCHMAILHOME:?}
echo "$*" >> "$home/calls"
case " $* " in
  *" -d 0 "*)
    code=$(head -n 1 "$home/oneshot-codes" 2>/dev/null)
    [ -n "$code" ] || code=1
    tail -n +2 "$home/oneshot-codes" > "$home/oneshot-codes.new" 2>/dev/null
    mv "$home/oneshot-codes.new" "$home/oneshot-codes" 2>/dev/null
    if [ "$code" = refused ]; then
      echo "2 messages for office at 127.0.0.1 (900 octets)."
      echo "fetchmail: SMTP error: 451 4.3.0 <alice@example.com>: try later" >&2
      echo "reading message office@127.0.0.1:1 of 2 (450 octets) not flushed"
      echo "fetchmail: SMTP error: 451 4.3.0 <bob@example.com>: try later" >&2
      echo "reading message office@127.0.0.1:2 of 2 (450 octets) not flushed"
      exit 0
    fi
    if [ "$code" = 0 ]; then echo "2 messages for office at 127.0.0.1 (900 octets)."; fi
    if [ "$code" = 1 ]; then echo "fetchmail: No mail for office at 127.0.0.1"; fi
    if [ "$code" = 3 ]; then echo "fetchmail: Authorization failure on office@127.0.0.1" >&2; fi
    exit "$code"
    ;;
esac
if [ -f "$home/daemon-exit" ]; then
  echo "fetchmail: Query status=2 (SOCKET)" >&2
  exit "$(cat "$home/daemon-exit")"
fi
trap 'echo "fetchmail: terminated by signal"; exit 0' TERM
trap 'echo "fetchmail: awakened by SIGUSR1" ; echo "fetchmail: sleeping at now for 60 seconds"' USR1
if [ -f "$home/daemon-refuse" ]; then
  echo "2 messages for office at 127.0.0.1 (900 octets)."
  echo "fetchmail: SMTP error: 451 4.3.0 try later" >&2
  echo "fetchmail: SMTP error: 451 4.3.0 try later" >&2
  sleep 0.2  # stdout and stderr are read apart: let the errors arrive before the poll ends
else
  echo "fetchmail: No mail for office at 127.0.0.1"
fi
echo "fetchmail: sleeping at now for 60 seconds"
while :; do sleep 1 & wait $!; done
