#!/usr/bin/env python3
"""Drives an interactive command through a pseudo-terminal, as a person at a
keyboard would: waits for each expected prompt, then types the answer.

    python3 pty_drive.py SCRIPT.json -- command args...

SCRIPT.json is a list of [expected text, line to type]. The whole transcript
is printed; the exit status is the command's (124 if a prompt never came).
"""
import json
import os
import pty
import select
import sys
import time


def main():
    split = sys.argv.index("--")
    steps = json.load(open(sys.argv[1]))
    command = sys.argv[split + 1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    transcript = b""

    def read_some(timeout):
        nonlocal transcript
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(fd, 4096)
        except OSError:
            return None
        if not data:
            return None
        transcript += data
        return True

    position = 0
    for expected, answer in steps:
        deadline = time.time() + 20
        while True:
            index = transcript.find(expected.encode(), position)
            if index >= 0:
                position = index + len(expected)
                break
            if time.time() > deadline or read_some(0.2) is None:
                sys.stdout.write(transcript.decode(errors="replace"))
                sys.stdout.write("\n[pty_drive] never saw: %r\n" % expected)
                os.kill(pid, 9)
                sys.exit(124)
        os.write(fd, (answer + "\n").encode())
    deadline = time.time() + 30
    while time.time() < deadline and read_some(0.2) is not None:
        pass
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(transcript.decode(errors="replace"))
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


if __name__ == "__main__":
    main()
